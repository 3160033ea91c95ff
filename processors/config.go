package processors

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovation-live/ovation/schemas"
)

// Config configures the aggregation core and the Kafka loop. The zero value
// of every field means the default its doc gives; call Validate.
type Config struct {
	// Custom is the deployment's custom event types (--custom-types);
	// nil: none. Every role must load the same registry.
	Custom *schemas.Registry
	// Brokers is the Kafka bootstrap list. Required by Run.
	Brokers []string
	// Topics names the topics; empty names are the defaults.
	Topics schemas.Topics
	// Group is the consumer group every replica joins. Default
	// "ovation-processors".
	Group string
	// TransactionalID is this replica's transactional id. It must be stable
	// across restarts of one replica (so a restarted replica fences its
	// zombie) and distinct between replicas. Default: Group + "-" + the
	// host name.
	TransactionalID string
	// Tick is the longest one transaction collects events: under load a
	// transaction grows to a tick's worth of them. Default 50 ms.
	Tick time.Duration
	// Linger (with FetchWait off) is how long an open transaction waits
	// for more records after the last ones came: when none come, it ends at once rather
	// than at the tick, so an event into an idle partition is committed
	// within a linger (plus the commit) of its arrival. While a partition
	// the transaction read has more records readable (a backlog), it
	// does not end at the linger but at the tick. A linger at
	// least the tick makes every transaction last a tick (the behaviour
	// before the linger existed). Default 2 ms.
	Linger time.Duration
	// TxnInterval is the shortest time from one commit to the next: a
	// transaction that would end at the linger sooner than TxnInterval
	// after the previous commit began stays open until then, so under a
	// steady trickle of events (many quiet rooms) several of them, across
	// rooms and partitions, share one transaction and its fixed cost (the
	// AddPartitions, offset commit and EndTxn round trips, one changelog
	// offset record and one commit marker per partition) instead of each
	// paying it. An event that comes when the last commit began longer
	// ago than the interval is still committed at the linger. At most
	// Tick; negative: none. Default 5 ms.
	TxnInterval time.Duration
	// FetchWait is the longest the broker holds the processor's fetch of
	// the events topic to collect more events (Kafka's fetch.max.wait.ms,
	// with fetch.min.bytes FetchMinBytes): under a trickle of events a
	// fetch brings every event of the last FetchWait at once instead of
	// one fetch per event, and the transaction ends as soon as that fetch
	// is applied (the linger is not waited: the broker already collected
	// the events). An event into an idle partition waits up to FetchWait
	// for its fetch to come back. The processor then fetches about once
	// per FetchWait while idle. At least 10 ms (franz-go's least), at
	// most Tick; zero or negative: none (a fetch returns at its first
	// readable record, and Linger applies). The zero Config has none;
	// `ovation process` and `ovation dev` set DefaultFetchWait unless
	// told otherwise (--fetch-wait).
	FetchWait time.Duration
	// MaxPollRecords bounds the records taken per poll. A poll is applied
	// whole before the transaction can end (its offsets are consumed), so
	// this bounds how long one room's backlog holds up the partition's
	// other rooms; the loop polls again and again within a tick, so it
	// does not bound throughput. Default 1,000.
	MaxPollRecords int
	// SessionTimeout is the group session timeout. Default 10 s.
	SessionTimeout time.Duration
	// TransactionTimeout must be below SessionTimeout. Default 8 s.
	TransactionTimeout time.Duration
	// RestoreTimeout bounds restoring one partition. Default 2 min.
	RestoreTimeout time.Duration
	// AtLeastOnce turns transactions off: frames are produced and offsets
	// committed afterwards, so a crash may repeat frames. Only for the
	// benchmark's baseline; never in production.
	AtLeastOnce bool

	// DedupWindow is how long (by event ts) an event id is remembered.
	// Default 10 min.
	DedupWindow time.Duration
	// MaxDedupIDs bounds the ids a room remembers, whatever the window.
	// Default 200,000.
	MaxDedupIDs int
	// PresenceTTL is how long a pusher's viewer report counts. Default 30 s.
	PresenceTTL time.Duration
	// SnapshotEvery writes a room's snapshot when its seq is this many
	// frames past the last snapshot (and always on an epoch's first
	// frame). 1 writes one in every transaction that changes a room.
	// Default 100.
	SnapshotEvery int
	// SnapshotInterval is the longest a room's snapshot may lag its
	// latest frame: a room that had frames since its last snapshot gets
	// one this long after the first of them at the latest, even when no
	// event comes. It must stay well below the pushers' recovery window
	// (--window, 2 min), whose frames complete a lagging snapshot.
	// Default 1 s.
	SnapshotInterval time.Duration
	// MaxFrameBytes splits a room's changes into several frames inside one
	// transaction once they reach about this size. Default 256 KiB.
	MaxFrameBytes int
	// MaxRecordBytes is the most a record's key, value and headers may
	// take. The processor sets it from the topics' max.message.bytes
	// (minus schemas.RecordOverheadBytes) when its session starts; the
	// default, for the pure core, is Kafka's default max.message.bytes
	// minus that overhead.
	MaxRecordBytes int
	// RoomIdle is how long a room may go without events before it is
	// evicted from memory (its state stays in the changelog and comes
	// back on its next event). Default 10 min.
	RoomIdle time.Duration
	// MaxPresenceNodes bounds the pusher nodes that may report viewers
	// of one room. Default 256.
	MaxPresenceNodes int
	// MaxEmojisPerUser is how many of a room's schemas.MaxEmojisPerRoom
	// emoji slots one user may open. Default 4.
	MaxEmojisPerUser int
	// MaxOpenQuestionsPerUser is how many questions one user may have
	// open (asked, not answered or removed) in a room. Default 10.
	MaxOpenQuestionsPerUser int
	// CheckpointMinBytes is the least l/ bytes that trigger a checkpoint.
	// Default 64 KiB.
	CheckpointMinBytes int
	// DeploymentRoom is the room whose mod.ban, mod.timeout, mod.unban
	// and mod.filters apply to every room (--deployment-room;
	// docs/moderation.md): its owner writes each into every events
	// partition. Empty: none (copies other processors wrote still
	// apply).
	DeploymentRoom string
	// NewEpoch makes an epoch id. Default: 16 random hex digits.
	NewEpoch func() string

	// testReadDelay slows every rebuild read (tests only).
	testReadDelay time.Duration
	// testProduceLimit, when set, is the size produce checks records
	// against instead of MaxRecordBytes (tests only: it makes a record
	// too large that the room bounds let through).
	testProduceLimit int

	// Log receives the processor's logs. Default: slog.Default().
	Log *slog.Logger
	// Registerer receives the metrics. Default: none registered.
	Registerer prometheus.Registerer
}

// Validate fills defaults and checks the values.
func (c *Config) Validate() error {
	c.Topics = c.Topics.WithDefaults()
	if err := c.Topics.Validate(); err != nil {
		return err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defi := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Group == "" {
		c.Group = "ovation-processors"
	}
	def(&c.Tick, 50*time.Millisecond)
	def(&c.Linger, 2*time.Millisecond)
	def(&c.TxnInterval, DefaultTxnInterval)
	def(&c.SessionTimeout, 10*time.Second)
	def(&c.TransactionTimeout, 8*time.Second)
	def(&c.RestoreTimeout, 2*time.Minute)
	def(&c.DedupWindow, 10*time.Minute)
	def(&c.PresenceTTL, 30*time.Second)
	defi(&c.MaxPollRecords, 1_000)
	defi(&c.MaxDedupIDs, 200_000)
	defi(&c.SnapshotEvery, 100)
	def(&c.SnapshotInterval, time.Second)
	defi(&c.MaxFrameBytes, 256<<10)
	defi(&c.CheckpointMinBytes, 64<<10)
	defi(&c.MaxRecordBytes, DefaultKafkaMaxMessageBytes-schemas.RecordOverheadBytes)
	def(&c.RoomIdle, 10*time.Minute)
	defi(&c.MaxPresenceNodes, 256)
	defi(&c.MaxEmojisPerUser, 4)
	defi(&c.MaxOpenQuestionsPerUser, 10)
	if c.NewEpoch == nil {
		c.NewEpoch = RandomEpoch
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	var errs []error
	if c.Tick < time.Millisecond || c.Tick > 10*time.Second {
		errs = append(errs, fmt.Errorf("tick %s: want 1ms to 10s", c.Tick))
	}
	if c.SnapshotInterval < time.Millisecond || c.SnapshotInterval > time.Minute {
		errs = append(errs, fmt.Errorf("snapshot interval %s: want 1ms to 1m (pushers complete a lagging snapshot from their window of frames)", c.SnapshotInterval))
	}
	if c.TxnInterval > c.Tick {
		errs = append(errs, fmt.Errorf("transaction interval %s: want at most the tick %s", c.TxnInterval, c.Tick))
	}
	if c.FetchWait > 0 && (c.FetchWait < 10*time.Millisecond || c.FetchWait > c.Tick) {
		errs = append(errs, fmt.Errorf("fetch wait %s: want 10ms (the Kafka client's least) to the tick %s, or none", c.FetchWait, c.Tick))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("linger %s: must not be negative", c.Linger))
	}
	if c.TransactionTimeout >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("transaction timeout %s must be below the session timeout %s, or a fenced zombie's transaction could outlive its membership", c.TransactionTimeout, c.SessionTimeout))
	}
	if c.Tick*4 > c.TransactionTimeout {
		errs = append(errs, fmt.Errorf("tick %s is too long for the transaction timeout %s", c.Tick, c.TransactionTimeout))
	}
	if c.SnapshotEvery < 1 || c.MaxFrameBytes < 1024 || c.MaxDedupIDs < 1 || c.MaxPollRecords < 1 {
		errs = append(errs, errors.New("snapshot-every, max-frame-bytes (>= 1 KiB), max-dedup-ids and max-poll-records must be positive"))
	}
	if c.DedupWindow < 0 || c.PresenceTTL < 0 {
		errs = append(errs, errors.New("dedup window and presence TTL must not be negative"))
	}
	if c.RoomIdle < time.Second {
		errs = append(errs, fmt.Errorf("room idle time %s: want at least 1s", c.RoomIdle))
	}
	if c.MaxRecordBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("max record bytes %d: want at least 64 KiB", c.MaxRecordBytes))
	}
	if c.DeploymentRoom != "" {
		if err := schemas.CheckRoom(c.DeploymentRoom); err != nil {
			errs = append(errs, fmt.Errorf("deployment room: %w", err))
		}
	}
	if c.MaxPresenceNodes < 1 || c.MaxEmojisPerUser < 1 || c.MaxOpenQuestionsPerUser < 1 {
		errs = append(errs, errors.New("max presence nodes, emojis per user and open questions per user must be positive"))
	}
	return errors.Join(errs...)
}

// sweepEvery is how often idle rooms are looked for.
func (c *Config) sweepEvery() time.Duration {
	return min(max(c.RoomIdle/10, time.Second), time.Minute)
}

// DefaultTxnInterval is Config.TxnInterval's default (issue 18's quiet
// rooms: see docs/processors.md).
const DefaultTxnInterval = 5 * time.Millisecond

// DefaultFetchWait is Config.FetchWait's default (issue 18's quiet rooms:
// see docs/processors.md).
const DefaultFetchWait = 10 * time.Millisecond

// FetchMinBytes is the fetch.min.bytes of the processor's events fetches
// when Config.FetchWait is set: a fetch returns once this much is
// readable (a backlog), or after FetchWait.
const FetchMinBytes = 64 << 10

// DefaultKafkaMaxMessageBytes is Kafka's default max.message.bytes, the
// limit assumed when the topics' own is not known.
const DefaultKafkaMaxMessageBytes = 1048588

// RandomEpoch returns 16 random hex digits.
func RandomEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
