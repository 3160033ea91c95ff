// Package chtest gives tests a real ClickHouse: the shared server that
// OVATION_CLICKHOUSE_ADDR names, a throwaway database in it, or a private
// server started with deployments/clickhouse/clickhouse.sh for fault tests
// that stop, kill and restart it. Tests skip when ClickHouse is not
// configured; `make test` sets the variables (see deployments/test-env.sh).
//
// The shared server in tests is Debian's ClickHouse 18.16: connect with the
// native protocol (HTTP mode fails there), and name the columns in every
// INSERT, e.g. "INSERT INTO t (a, b)".
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"github.com/ovation-live/ovation/internal/scripttest"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// EnvAddr names the environment variable holding the shared test server's
// native-protocol address, e.g. "127.0.0.1:19000".
const EnvAddr = "OVATION_CLICKHOUSE_ADDR"

// EnvFault names the environment variable that opts in to fault tests, which
// start private servers and stop them for a while; "1" enables them.
const EnvFault = "OVATION_CLICKHOUSE_FAULT"

// Addr returns the shared server's address from OVATION_CLICKHOUSE_ADDR, or
// skips the test when the variable is unset.
func Addr(t testing.TB) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvAddr))
	if v == "" {
		t.Skip(EnvAddr + " not set: start ClickHouse with `deployments/test-env.sh up DIR` (or `make test`) to run this test against a real server")
	}
	return v
}

// FaultEnabled reports whether OVATION_CLICKHOUSE_FAULT=1 opts in to fault
// tests.
func FaultEnabled() bool { return os.Getenv(EnvFault) == "1" }

// Open connects to addr over the native protocol with database as the
// default database ("" for the server's default) and closes the connection
// when the test ends.
func Open(t testing.TB, addr, database string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("chtest.Open %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// DatabaseName returns a database name unique to this run that still tells
// which test made it: "test_<test name>_<random>", with characters outside
// [A-Za-z0-9_] replaced by '_' so it needs no quoting.
func DatabaseName(t testing.TB) string {
	var b strings.Builder
	b.WriteString("test_")
	for _, r := range t.Name() {
		if b.Len() >= 80 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic(err)
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

// Database creates a uniquely named database on addr and drops it when the
// test ends, so tests can share one server without seeing each other's
// tables.
func Database(t testing.TB, addr string) string {
	t.Helper()
	name := DatabaseName(t)
	conn := Open(t, addr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("chtest.Database: create %s on %s: %v", name, addr, err)
	}
	t.Cleanup(func() {
		// A fresh connection: a fault test may have restarted the server
		// under the first one.
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.Native})
		if err != nil {
			t.Logf("chtest.Database: drop %s: %v", name, err)
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("chtest.Database: drop %s: %v", name, err)
		}
	})
	return name
}

// Server is a private ClickHouse server started for one test in a temporary
// directory, listening on a free loopback port. Its methods may be called
// from any goroutine; t.Cleanup stops it.
type Server struct {
	t      testing.TB
	script string
	dir    string
	addr   string

	mu       sync.Mutex // serialises clickhouse.sh invocations
	finished bool
}

// Start starts a private server and stops it when the test ends. It skips
// unless OVATION_CLICKHOUSE_FAULT=1: fault tests stop ClickHouse for a minute
// at a time and are opt-in.
func Start(t testing.TB) *Server {
	t.Helper()
	if !FaultEnabled() {
		t.Skip(EnvFault + "=1 not set: fault tests start their own ClickHouse and are opt-in")
	}
	root, err := scripttest.RepoRoot()
	if err != nil {
		t.Fatalf("chtest.Start: %v", err)
	}
	s := &Server{
		t:      t,
		script: filepath.Join(root, "deployments", "clickhouse", "clickhouse.sh"),
	}
	tmp := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, httpPort, err := freePorts()
		if err != nil {
			t.Fatalf("chtest.Start: %v", err)
		}
		dir := filepath.Join(tmp, "attempt"+strconv.Itoa(attempt))
		start := time.Now()
		out, err := s.run(90*time.Second, "start", dir,
			"--port", strconv.Itoa(port),
			"--http-port", strconv.Itoa(httpPort),
			"--owner", strconv.Itoa(os.Getpid()))
		if err != nil {
			// Another test may have taken the port between probe and bind.
			lastErr = err
			_, _ = s.run(30*time.Second, "stop", dir, "--timeout", "5")
			continue
		}
		s.dir = dir
		s.addr = strings.TrimSpace(out)
		t.Logf("chtest: clickhouse %s up in %v (dir %s)", s.addr, time.Since(start).Round(10*time.Millisecond), dir)
		t.Cleanup(s.finish)
		return s
	}
	t.Fatalf("chtest.Start: %v", lastErr)
	return nil
}

// Addr returns the server's native-protocol address (host:port); it stays
// the same across Stop, Kill and Restart.
func (s *Server) Addr() string { return s.addr }

// Dir returns the directory holding the server's config, data and logs.
func (s *Server) Dir() string { return s.dir }

// Stop shuts the server down cleanly (SIGTERM) and waits until it is gone;
// Restart brings it back with its data.
func (s *Server) Stop() {
	s.t.Helper()
	if _, err := s.run(60*time.Second, "stop", s.dir); err != nil {
		s.t.Fatalf("chtest: stop: %v", err)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.t.Helper()
	if _, err := s.run(30*time.Second, "kill", s.dir); err != nil {
		s.t.Fatalf("chtest: kill: %v", err)
	}
}

// Restart stops the server if it runs, starts it again on the same address
// with the same data, and waits until it answers queries.
func (s *Server) Restart() {
	s.t.Helper()
	if _, err := s.run(120*time.Second, "restart", s.dir); err != nil {
		s.t.Fatalf("chtest: restart: %v", err)
	}
}

func (s *Server) finish() {
	s.mu.Lock()
	done := s.finished
	s.finished = true
	s.mu.Unlock()
	if done {
		return
	}
	if _, err := s.run(60*time.Second, "stop", s.dir, "--timeout", "10"); err != nil {
		s.t.Errorf("chtest: stop at cleanup: %v", err)
	}
}

func (s *Server) run(timeout time.Duration, args ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return scripttest.Run(timeout, s.script, args...)
}

// freePorts picks two distinct free loopback ports below the kernel's
// ephemeral range, so outgoing connections never take them before the
// server binds.
func freePorts() (port, httpPort int, err error) {
	var got []int
	for try := 0; try < 200 && len(got) < 2; try++ {
		v, err := rand.Int(rand.Reader, big.NewInt(12000))
		if err != nil {
			return 0, 0, err
		}
		p := 20000 + int(v.Int64())
		if len(got) == 1 && got[0] == p {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		got = append(got, p)
	}
	if len(got) < 2 {
		return 0, 0, errors.New("no free loopback ports found")
	}
	return got[0], got[1], nil
}
