package analytics

import (
	"context"
	"errors"
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
	TableVerdicts   = "verdicts"
	TableMigrations = "schema_migrations"
)

// Exactly-once rests on two sort keys:
//   - events is a ReplacingMergeTree ordered by (room, user, id), an
//     event's identity: a record read twice from Kafka and a client's retry
//     of the same event id (a second record at another offset) collapse to
//     one row, while the same id chosen by another user is another event;
//     ver = 2^63 - offset keeps the earliest copy, the one the processors
//     accepted. Queries count uniqExact(user, id) or read with FINAL, so
//     they are exact before merges run.
//   - frames is a ReplacingMergeTree ordered by (room, epoch, seq): the
//     processors write each frame once per epoch, so a re-read frame
//     collapses; queries read it with FINAL.
//
// In single-server mode sink_offsets is fed by materialized views with the
// highest offset of every inserted block: a retried insert only repeats the
// same maximum, so the double-counting of views over non-replicated tables
// does not matter for a max. In cluster mode a block inserted through a
// Distributed table is split per shard, and a view on one shard would see
// only its part, so the sink writes sink_offsets itself after the rows
// (see writer.write). The sink resumes from it.
//
// Only features ClickHouse 18.16 has are used: no DateTime64 (milliseconds
// live in a UInt64 column next to the DateTime), no LowCardinality, no
// PARTITION BY, so that one INSERT block is one part and is written
// atomically.

// eventsColumnsDDL and framesColumnsDDL are the tables' columns, shared by
// both modes.
const (
	eventsColumnsDDL = `(
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
		)`
	framesColumnsDDL = `(
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
		)`
	offsetsColumnsDDL = `(ktopic String, kpartition Int32, koffset UInt64)`
	// verdicts: the processors' judgements (schemas.Verdicts), keyed like
	// events so a re-read collapses: reason is an ignore reason (the
	// event counts nowhere) or "masked" (text is the line as shown).
	verdictsColumnsDDL = `(
			room String,
			user String,
			id String,
			reason String,
			text String,
			ktopic String,
			kpartition Int32,
			koffset Int64
		)`
	eventsKey    = "room, user, id"
	eventsOldKey = "room, id"
)

// singleV1 creates the single-server schema.
var singleV1 = []string{
	`CREATE TABLE IF NOT EXISTS {db}.events ` + eventsColumnsDDL + ` ENGINE = ReplacingMergeTree(ver) ORDER BY (` + eventsKey + `)`,
	`CREATE TABLE IF NOT EXISTS {db}.frames ` + framesColumnsDDL + ` ENGINE = ReplacingMergeTree ORDER BY (room, epoch, seq)`,
	`CREATE TABLE IF NOT EXISTS {db}.sink_offsets ` + offsetsColumnsDDL + ` ENGINE = ReplacingMergeTree(koffset) ORDER BY (ktopic, kpartition)`,
	eventsOffsetsView,
	`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.frames_offsets_mv TO {db}.sink_offsets AS
			SELECT ktopic, kpartition, toUInt64(max(koffset)) AS koffset FROM {db}.frames GROUP BY ktopic, kpartition`,
}

const eventsOffsetsView = `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_offsets_mv TO {db}.sink_offsets AS
			SELECT ktopic, kpartition, toUInt64(max(koffset)) AS koffset FROM {db}.events GROUP BY ktopic, kpartition`

// clusterV1 creates the cluster schema: replicated local tables on every
// node (the {shard} and {replica} macros come from each server's config),
// Distributed tables under the public names sharded by room, so a room's
// rows, and every copy of one of its rows, live on one shard and FINAL and
// uniqExact per shard are exact for the whole cluster. sink_offsets and
// schema_migrations are replicated to every node (one ZooKeeper path for
// all shards), so any node answers where the sink stands.
var clusterV1 = []string{
	`CREATE TABLE IF NOT EXISTS {db}.events_local {on} ` + eventsColumnsDDL +
		` ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/events_local', '{replica}', ver) ORDER BY (` + eventsKey + `)`,
	`CREATE TABLE IF NOT EXISTS {db}.frames_local {on} ` + framesColumnsDDL +
		` ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/frames_local', '{replica}') ORDER BY (room, epoch, seq)`,
	`CREATE TABLE IF NOT EXISTS {db}.events {on} AS {db}.events_local ENGINE = Distributed({cluster}, {db}, events_local, sipHash64(room))`,
	`CREATE TABLE IF NOT EXISTS {db}.frames {on} AS {db}.frames_local ENGINE = Distributed({cluster}, {db}, frames_local, sipHash64(room))`,
	`CREATE TABLE IF NOT EXISTS {db}.sink_offsets {on} ` + offsetsColumnsDDL +
		` ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/sink_offsets', '{replica}', koffset) ORDER BY (ktopic, kpartition)`,
}

// migration is one schema version.
type migration func(ctx context.Context, m *migrator) error

// migrations are applied in order, each once per database; their index+1 is
// their version. Every statement is idempotent (IF NOT EXISTS, or a state
// check first), so two sinks migrating at once, or a crash between a
// statement and the version record, are harmless.
var migrations = []migration{
	func(ctx context.Context, m *migrator) error {
		if m.cluster != "" {
			return m.execAll(ctx, clusterV1)
		}
		return m.execAll(ctx, singleV1)
	},
	// Version 2: events keyed by (room, user, id) instead of (room, id).
	// Cluster schemas were born with the new key.
	func(ctx context.Context, m *migrator) error {
		if m.cluster != "" {
			return nil
		}
		return m.rekeyEvents(ctx)
	},
	// Version 3: the processors' verdicts (docs/analytics.md, "One rule
	// for what counts"). Sharded by room like events, so a shard holds a
	// room's verdicts next to its events.
	func(ctx context.Context, m *migrator) error {
		if m.cluster != "" {
			return m.execAll(ctx, []string{
				`CREATE TABLE IF NOT EXISTS {db}.verdicts_local {on} ` + verdictsColumnsDDL +
					` ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/verdicts_local', '{replica}') ORDER BY (` + eventsKey + `)`,
				`CREATE TABLE IF NOT EXISTS {db}.verdicts {on} AS {db}.verdicts_local ENGINE = Distributed({cluster}, {db}, verdicts_local, sipHash64(room))`,
			})
		}
		return m.exec(ctx, `CREATE TABLE IF NOT EXISTS {db}.verdicts `+verdictsColumnsDDL+` ENGINE = ReplacingMergeTree ORDER BY (`+eventsKey+`)`)
	},
}

// SchemaVersion returns the schema version this build migrates databases
// to.
func SchemaVersion() int { return len(migrations) }

// checkIdent accepts plain identifiers only: database and cluster names
// are spliced into DDL, where ClickHouse takes no bound parameters.
func checkIdent(what, v string) error {
	if v == "" || len(v) > 64 {
		return fmt.Errorf("%w: %s name %q must be 1-64 characters", ErrConfig, what, v)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("%w: %s name %q: use letters, digits and _ (not first)", ErrConfig, what, v)
		}
	}
	return nil
}

func checkDatabase(db string) error { return checkIdent("database", db) }

// migrator runs DDL for one database in one mode.
type migrator struct {
	conn    driver.Conn
	db      string
	cluster string // empty: single server
}

func (m *migrator) expand(q string) string {
	on := ""
	if m.cluster != "" {
		on = "ON CLUSTER " + m.cluster
	}
	return strings.NewReplacer("{db}", m.db, "{on}", on, "{cluster}", m.cluster).Replace(q)
}

func (m *migrator) exec(ctx context.Context, q string) error {
	q = m.expand(q)
	if err := m.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("analytics: migrate %s: %w", firstLine(q), err)
	}
	return nil
}

func (m *migrator) execAll(ctx context.Context, qs []string) error {
	for _, q := range qs {
		if err := m.exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// tableInfo returns a table's engine and sorting key; ok is false when the
// table does not exist.
func (m *migrator) tableInfo(ctx context.Context, table string) (engine, key string, ok bool, err error) {
	rows, err := m.conn.Query(ctx, "SELECT engine, sorting_key FROM system.tables WHERE database = ? AND name = ?", m.db, table)
	if err != nil {
		return "", "", false, fmt.Errorf("analytics: migrate: read system.tables: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&engine, &key); err != nil {
			return "", "", false, fmt.Errorf("analytics: migrate: read system.tables: %w", err)
		}
		ok = true
	}
	return engine, key, ok, rows.Err()
}

// rekeyEvents moves a single-server events table from the sort key
// (room, id) to (room, user, id). ClickHouse cannot change a sort key in
// place, so: create the new table, drop the offsets view, swap the two
// tables in one RENAME, copy the old rows, drop the old table, recreate
// the view. Each step is safe to repeat and to race with another sink
// doing the same: a RENAME that lost the race fails and the state is
// checked again; a copy done twice collapses by the sort key like any
// re-read; rows a sink writes meanwhile land in the new table (the view is
// back before the version is recorded, and a batch whose offsets no view
// recorded is re-read and collapses).
func (m *migrator) rekeyEvents(ctx context.Context) error {
	_, key, ok, err := m.tableInfo(ctx, "events")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("analytics: migrate: %s.events is missing", m.db)
	}
	switch key {
	case eventsKey:
	case eventsOldKey:
		if err := m.execAll(ctx, []string{
			`CREATE TABLE IF NOT EXISTS {db}.events_rekey ` + eventsColumnsDDL + ` ENGINE = ReplacingMergeTree(ver) ORDER BY (` + eventsKey + `)`,
			`DROP TABLE IF EXISTS {db}.events_offsets_mv`,
			`RENAME TABLE {db}.events TO {db}.events_old, {db}.events_rekey TO {db}.events`,
		}); err != nil {
			// Another sink may have swapped first: this one's CREATE IF
			// NOT EXISTS then made a fresh events_rekey after the other's
			// RENAME. Drop it so nothing is left behind (a sink still to
			// rename it fails, checks again and finds the new key).
			if _, k, ok, kerr := m.tableInfo(ctx, "events"); kerr == nil && ok && k == eventsKey {
				if derr := m.exec(ctx, `DROP TABLE IF EXISTS {db}.events_rekey`); derr != nil {
					return errors.Join(err, derr)
				}
			}
			return err
		}
	default:
		return fmt.Errorf("analytics: migrate: %s.events is sorted by (%s); this build needs (%s): see docs/analytics.md, Migrations", m.db, key, eventsKey)
	}
	if _, _, ok, err := m.tableInfo(ctx, "events_old"); err != nil {
		return err
	} else if ok {
		if err := m.execAll(ctx, []string{
			`INSERT INTO {db}.events (` + eventColumns + `) SELECT ` + eventColumns + ` FROM {db}.events_old`,
			`DROP TABLE IF EXISTS {db}.events_old`,
		}); err != nil {
			return err
		}
	}
	return m.exec(ctx, eventsOffsetsView)
}

// checkMode refuses a database created in the other mode: a cluster
// sink writing local tables, or a single-server sink writing a
// Distributed table without the offsets views, would break exactly-once.
func (m *migrator) checkMode(ctx context.Context) error {
	engine, _, ok, err := m.tableInfo(ctx, "events")
	if err != nil || !ok {
		return err
	}
	switch dist := engine == "Distributed"; {
	case dist && m.cluster == "":
		return fmt.Errorf("%w: %s.events is a Distributed table (created in cluster mode); set --clickhouse-cluster", ErrConfig, m.db)
	case !dist && m.cluster != "":
		return fmt.Errorf("%w: %s.events is a %s table (created in single-server mode); cluster mode needs a new database (copy the data with ovation replay --into clickhouse)", ErrConfig, m.db, engine)
	}
	return nil
}

// Migrate creates the database, tables and views if missing and applies
// the migrations the database has not seen. It is safe to run concurrently
// and repeatedly. A database already at this build's version costs one
// query and no DDL, so sinks restarting while a cluster replica is down do
// not wait on ON CLUSTER statements that replica cannot answer.
func Migrate(ctx context.Context, conn driver.Conn, cfg ClickHouseConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	m := &migrator{conn: conn, db: cfg.Database, cluster: cfg.Cluster}
	have, err := m.version(ctx)
	if err != nil {
		return err
	}
	if err := m.checkMode(ctx); err != nil {
		return err
	}
	if have >= len(migrations) {
		return nil
	}
	if err := m.exec(ctx, `CREATE DATABASE IF NOT EXISTS {db} {on}`); err != nil {
		return err
	}
	table := `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, applied DateTime) ENGINE = ReplacingMergeTree ORDER BY version`
	if m.cluster != "" {
		table = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations {on} (version UInt32, applied DateTime)
			ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/schema_migrations', '{replica}') ORDER BY version`
	}
	if err := m.exec(ctx, table); err != nil {
		return err
	}
	for v := have; v < len(migrations); v++ {
		if err := migrations[v](ctx, m); err != nil {
			return err
		}
		if err := conn.Exec(ctx, "INSERT INTO "+m.db+".schema_migrations (version, applied) SELECT toUInt32(?), now()", uint32(v+1)); err != nil {
			return fmt.Errorf("analytics: migrate: record version %d: %w", v+1, err)
		}
	}
	return nil
}

// version returns the highest applied migration, 0 for a database or
// table that does not exist yet.
func (m *migrator) version(ctx context.Context) (int, error) {
	_, _, ok, err := m.tableInfo(ctx, "schema_migrations")
	if err != nil || !ok {
		return 0, err
	}
	var have uint32
	if err := m.conn.QueryRow(ctx, "SELECT toUInt32(max(version)) FROM "+m.db+".schema_migrations").Scan(&have); err != nil {
		return 0, fmt.Errorf("analytics: migrate: read version: %w", err)
	}
	return int(have), nil
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
