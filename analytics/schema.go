package analytics

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Table names inside the analytics database. They are part of the public
// contract: docs/analytics.md shows SQL against them.
const (
	TableEvents     = "events"
	TableFrames     = "frames"
	TableOffsets    = "sink_offsets"
	TableMigrations = "schema_migrations"
)

// migrations are applied in order, each once per database; their index+1 is
// their version. Every statement is idempotent (IF NOT EXISTS), so two sinks
// migrating at once, or a crash between a statement and the version record,
// are harmless. Only features ClickHouse 18.16 has are used: no DateTime64
// (milliseconds live in a UInt64 column next to the DateTime), no
// LowCardinality, no PARTITION BY, so that one INSERT block is one part and
// is written atomically.
//
// Exactly-once rests on two sort keys:
//   - events is a ReplacingMergeTree ordered by (room, id): a record read
//     twice from Kafka and a client's retry of the same event id (a second
//     record at another offset) collapse to one row; ver = 2^63 - offset
//     keeps the earliest copy, the one the processors accepted. Queries
//     count uniqExact(id) or read with FINAL, so they are exact before
//     merges run.
//   - frames is a ReplacingMergeTree ordered by (room, epoch, seq): the
//     processors write each frame once per epoch, so a re-read frame
//     collapses; queries read it with FINAL.
//
// sink_offsets is fed by materialized views with the highest offset of
// every inserted block: a retried insert only repeats the same maximum, so
// the double-counting of views over non-replicated tables does not matter
// for a max. The sink resumes from it.
var migrations = [][]string{
	{
		`CREATE TABLE IF NOT EXISTS {db}.events (
			room String,
			id String,
			type String,
			user String,
			ts DateTime,
			ts_ms UInt64,
			ref String,
			option Int16,
			emoji String,
			text String,
			name String,
			data String,
			ktopic String,
			kpartition Int32,
			koffset Int64,
			ver UInt64
		) ENGINE = ReplacingMergeTree(ver) ORDER BY (room, id)`,
		`CREATE TABLE IF NOT EXISTS {db}.frames (
			room String,
			epoch String,
			seq UInt64,
			ts DateTime,
			ts_ms UInt64,
			chat Int64,
			reactions Int64,
			votes Int64,
			questions Int64,
			upvotes Int64,
			answers Int64,
			viewers Int64,
			has_viewers UInt8,
			r_emoji Array(String),
			r_n Array(Int64),
			p_poll Array(String),
			p_option Array(UInt16),
			p_n Array(Int64),
			q_id Array(String),
			q_n Array(Int64),
			z_id Array(String),
			z_n Array(Int64),
			meta UInt8,
			delta String,
			ktopic String,
			kpartition Int32,
			koffset Int64
		) ENGINE = ReplacingMergeTree ORDER BY (room, epoch, seq)`,
		`CREATE TABLE IF NOT EXISTS {db}.sink_offsets (
			ktopic String,
			kpartition Int32,
			koffset UInt64
		) ENGINE = ReplacingMergeTree(koffset) ORDER BY (ktopic, kpartition)`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_offsets_mv TO {db}.sink_offsets AS
			SELECT ktopic, kpartition, toUInt64(max(koffset)) AS koffset FROM {db}.events GROUP BY ktopic, kpartition`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.frames_offsets_mv TO {db}.sink_offsets AS
			SELECT ktopic, kpartition, toUInt64(max(koffset)) AS koffset FROM {db}.frames GROUP BY ktopic, kpartition`,
	},
}

// SchemaVersion returns the schema version this build migrates databases
// to.
func SchemaVersion() int { return len(migrations) }

// checkDatabase accepts plain identifiers only: the name is spliced into
// DDL, where ClickHouse takes no bound parameters.
func checkDatabase(db string) error {
	if db == "" || len(db) > 64 {
		return fmt.Errorf("%w: database name %q must be 1-64 characters", ErrConfig, db)
	}
	for i := 0; i < len(db); i++ {
		c := db[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("%w: database name %q: use letters, digits and _ (not first)", ErrConfig, db)
		}
	}
	return nil
}

// Migrate creates the database, tables and views if missing and applies
// the migrations the database has not seen. It is safe to run concurrently
// and repeatedly.
func Migrate(ctx context.Context, conn driver.Conn, db string) error {
	if err := checkDatabase(db); err != nil {
		return err
	}
	exec := func(q string) error {
		q = strings.ReplaceAll(q, "{db}", db)
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("analytics: migrate %s: %w", firstLine(q), err)
		}
		return nil
	}
	if err := exec(`CREATE DATABASE IF NOT EXISTS {db}`); err != nil {
		return err
	}
	if err := exec(`CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, applied DateTime) ENGINE = ReplacingMergeTree ORDER BY version`); err != nil {
		return err
	}
	var have uint32
	row := conn.QueryRow(ctx, "SELECT toUInt32(max(version)) FROM "+db+".schema_migrations")
	if err := row.Scan(&have); err != nil {
		return fmt.Errorf("analytics: migrate: read version: %w", err)
	}
	for v := int(have); v < len(migrations); v++ {
		for _, q := range migrations[v] {
			if err := exec(q); err != nil {
				return err
			}
		}
		if err := conn.Exec(ctx, "INSERT INTO "+db+".schema_migrations (version, applied) SELECT toUInt32(?), now()", uint32(v+1)); err != nil {
			return fmt.Errorf("analytics: migrate: record version %d: %w", v+1, err)
		}
	}
	return nil
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i > 0 {
		q = q[:i]
	}
	if len(q) > 80 {
		q = q[:80]
	}
	return q
}
