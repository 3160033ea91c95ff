package chtest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

func TestDatabaseNameIsPlainIdentifier(t *testing.T) {
	ident := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	t.Run("sub-test/with spaces", func(t *testing.T) {
		a, b := DatabaseName(t), DatabaseName(t)
		if !ident.MatchString(a) {
			t.Errorf("DatabaseName = %q, not a plain identifier", a)
		}
		if !strings.HasPrefix(a, "test_TestDatabaseNameIsPlainIdentifier_sub_test_with_spaces_") {
			t.Errorf("DatabaseName = %q, does not name the test", a)
		}
		if a == b {
			t.Errorf("two calls returned the same name %q", a)
		}
	})
}

// createAndFill makes a MergeTree table in db and inserts n rows in one
// batch, the way the analytics sink writes: an INSERT that names its columns
// (ClickHouse 18.16 needs that), PrepareBatch, Append, Send.
func createAndFill(ctx context.Context, t *testing.T, conn driver.Conn, db string, n int) {
	t.Helper()
	err := conn.Exec(ctx, `CREATE TABLE `+db+`.events (
		partition Int32,
		offset    Int64,
		room      String,
		n         UInt32,
		ts        DateTime
	) ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partition, offset)`)
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (partition, offset, room, n, ts)")
	if err != nil {
		t.Fatalf("prepare batch: %v", err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < n; i++ {
		if err := batch.Append(int32(i%4), int64(i), "room-"+string(rune('a'+i%3)), uint32(i), ts); err != nil {
			t.Fatalf("append row %d: %v", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send batch of %d rows: %v", n, err)
	}
}

func checkCountSum(ctx context.Context, t *testing.T, conn driver.Conn, db string, n int) {
	t.Helper()
	var count, sum, rooms uint64
	row := conn.QueryRow(ctx, "SELECT count(), sum(n), uniqExact(room) FROM "+db+".events")
	if err := row.Scan(&count, &sum, &rooms); err != nil {
		t.Fatalf("select: %v", err)
	}
	want := uint64(n) * uint64(n-1) / 2
	if count != uint64(n) || sum != want || rooms != 3 {
		t.Errorf("count %d, sum %d, rooms %d; want %d, %d, 3", count, sum, rooms, n, want)
	}
}

func TestBatchInsertRealServer(t *testing.T) {
	addr := Addr(t)
	db := Database(t, addr)
	conn := Open(t, addr, db)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const n = 10000
	createAndFill(ctx, t, conn, db, n)
	checkCountSum(ctx, t, conn, db, n)

	// The database really is private and really goes away at cleanup.
	var tables uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 1 {
		t.Errorf("%d tables in %s, want 1", tables, db)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	addr := Addr(t)
	var db string
	t.Run("inner", func(t *testing.T) { db = Database(t, addr) })
	conn := Open(t, addr, "")
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if db == "" || n != 0 {
		t.Errorf("database %q still exists after its test ended (count %d)", db, n)
	}
}

// TestServerSurvivesStopKillRestart checks the fault-test server: data
// written before a clean stop and before a crash is there after restart, on
// the same address.
func TestServerSurvivesStopKillRestart(t *testing.T) {
	s := Start(t)
	addr := s.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := Open(t, addr, "")
	if err := conn.Exec(ctx, "CREATE DATABASE ft"); err != nil {
		t.Fatal(err)
	}
	createAndFill(ctx, t, conn, "ft", 1000)

	s.Stop()
	if err := Open(t, addr, "").Ping(ctx); err == nil {
		t.Fatalf("ping after Stop succeeded; want the server down")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("address changed across restart: %s -> %s", addr, s.Addr())
	}
	checkCountSum(ctx, t, Open(t, addr, ""), "ft", 1000)

	s.Kill()
	s.Restart()
	checkCountSum(ctx, t, Open(t, addr, ""), "ft", 1000)
}

func TestServerSkipsWithoutOptIn(t *testing.T) {
	if FaultEnabled() {
		t.Skip("fault tests enabled; the skip path is not taken")
	}
	ran := false
	t.Run("inner", func(t *testing.T) {
		defer func() { ran = true }()
		Start(t)
		t.Error("Start returned without OVATION_CLICKHOUSE_FAULT=1")
	})
	if !ran {
		t.Error("inner test did not run")
	}
}
