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
	// Tick is how long one transaction collects events. Default 50 ms.
	Tick time.Duration
	// MaxPollRecords bounds the records taken per poll. Default 10,000.
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
	// frame). Default 1: every transaction that changes a room.
	SnapshotEvery int
	// MaxFrameBytes splits a room's changes into several frames inside one
	// transaction once they reach about this size. Default 256 KiB.
	MaxFrameBytes int
	// CheckpointMinBytes is the least l/ bytes that trigger a checkpoint.
	// Default 64 KiB.
	CheckpointMinBytes int
	// NewEpoch makes an epoch id. Default: 16 random hex digits.
	NewEpoch func() string

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
	def(&c.SessionTimeout, 10*time.Second)
	def(&c.TransactionTimeout, 8*time.Second)
	def(&c.RestoreTimeout, 2*time.Minute)
	def(&c.DedupWindow, 10*time.Minute)
	def(&c.PresenceTTL, 30*time.Second)
	defi(&c.MaxPollRecords, 10_000)
	defi(&c.MaxDedupIDs, 200_000)
	defi(&c.SnapshotEvery, 1)
	defi(&c.MaxFrameBytes, 256<<10)
	defi(&c.CheckpointMinBytes, 64<<10)
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
	return errors.Join(errs...)
}

// RandomEpoch returns 16 random hex digits.
func RandomEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
