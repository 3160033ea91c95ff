package ingest

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// Config tunes the ingest role. The zero value of every field means its
// documented default; a negative rate or count turns that limit off.
type Config struct {
	// Topic is the events topic; "" means schemas.DefaultEventsTopic.
	Topic string
	// Custom is the deployment's custom event types (--custom-types),
	// accepted and validated like the built-in ones. nil: none.
	Custom *schemas.Registry

	// MaxEventBytes bounds one encoded event (as written to Kafka, with the
	// room, user, id and ts ingest adds); 0 means schemas.MaxEventBytes
	// (16 KiB), which is also the most it may be, since every consumer
	// rejects larger events.
	MaxEventBytes int
	// MaxBatchEvents bounds the events in one request; 0 means 500.
	MaxBatchEvents int
	// MaxRequestBytes bounds one request body; 0 means 1 MiB.
	MaxRequestBytes int64

	// UserRate is the sustained events per second one user (token sub)
	// may publish over every transport together; 0 means 50, negative
	// means unlimited. UserBurst is the bucket size; 0 means 4×UserRate
	// (at least 1).
	UserRate  float64
	UserBurst int
	// ClientRate is the sustained events per second one client address
	// may publish over HTTP; 0 means 500, negative means unlimited. Behind
	// a proxy every client shares the proxy's address: raise or disable
	// it there. ClientBurst is the bucket size; 0 means 4×ClientRate.
	ClientRate  float64
	ClientBurst int
	// LimiterKeys bounds how many users (and, separately, how many client
	// addresses) have a token bucket at once; 0 means 100,000. The least
	// recently used bucket is dropped when a new key needs room, so memory
	// stays bounded whatever the number of distinct keys.
	LimiterKeys int

	// MaxRoomsPerToken refuses tokens that name more room patterns than
	// this; 0 means 100, negative means unlimited.
	MaxRoomsPerToken int

	// ProduceTimeout bounds how long Kafka may take to acknowledge an
	// event before ingest answers kafka_unavailable; 0 means 10 s. Use it
	// for kgo.RecordDeliveryTimeout too (ProducerOpts does).
	ProduceTimeout time.Duration
	// MaxBufferedRecords and MaxBufferedBytes bound the producer buffer;
	// when it is full ingest answers backpressure (503) at once instead of
	// queueing. 0 means 100,000 records and 64 MiB.
	MaxBufferedRecords int
	MaxBufferedBytes   int
}

// Defaults of Config's zero values.
const (
	DefaultMaxBatchEvents     = 500
	DefaultMaxRequestBytes    = 1 << 20
	DefaultUserRate           = 50
	DefaultClientRate         = 500
	DefaultLimiterKeys        = 100_000
	DefaultMaxRoomsPerToken   = 100
	DefaultProduceTimeout     = 10 * time.Second
	DefaultMaxBufferedRecords = 100_000
	DefaultMaxBufferedBytes   = 64 << 20
)

// WithDefaults returns c with zero values replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.Topic == "" {
		c.Topic = schemas.DefaultEventsTopic
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = schemas.MaxEventBytes
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.UserRate == 0 {
		c.UserRate = DefaultUserRate
	}
	if c.UserBurst == 0 {
		c.UserBurst = max(1, int(4*c.UserRate))
	}
	if c.ClientRate == 0 {
		c.ClientRate = DefaultClientRate
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = max(1, int(4*c.ClientRate))
	}
	if c.LimiterKeys == 0 {
		c.LimiterKeys = DefaultLimiterKeys
	}
	if c.MaxRoomsPerToken == 0 {
		c.MaxRoomsPerToken = DefaultMaxRoomsPerToken
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.MaxEventBytes < 0 || c.MaxEventBytes > schemas.MaxEventBytes:
		return bad("max event bytes %d: want 1..%d (consumers reject larger events)", c.MaxEventBytes, schemas.MaxEventBytes)
	case c.MaxBatchEvents < 0:
		return bad("max batch events %d is negative", c.MaxBatchEvents)
	case c.MaxRequestBytes < int64(c.MaxEventBytes):
		return bad("max request bytes %d is below max event bytes %d", c.MaxRequestBytes, c.MaxEventBytes)
	case c.UserRate > 0 && c.UserBurst < 1, c.ClientRate > 0 && c.ClientBurst < 1:
		return bad("a burst must be at least 1")
	case c.LimiterKeys < 16:
		return bad("limiter keys %d: want at least 16", c.LimiterKeys)
	case c.ProduceTimeout < 100*time.Millisecond:
		return bad("produce timeout %v: want at least 100ms", c.ProduceTimeout)
	case c.MaxBufferedRecords < 1 || c.MaxBufferedBytes < c.MaxEventBytes:
		return bad("producer buffer of %d records / %d bytes cannot hold one event", c.MaxBufferedRecords, c.MaxBufferedBytes)
	}
	return nil
}

// ProducerOpts returns the franz-go options the ingest producer must run
// with, to append after the role's common options: acks from every in-sync
// replica with the idempotent producer (franz-go's default, spelled out so
// nobody turns it off), a bounded buffer that TryProduce reports as full
// instead of blocking, a delivery timeout that bounds every answer, and the
// events topic as the default topic.
func (c Config) ProducerOpts() []kgo.Opt {
	c = c.WithDefaults()
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.MaxBufferedRecords(c.MaxBufferedRecords),
		kgo.MaxBufferedBytes(c.MaxBufferedBytes),
		kgo.RecordDeliveryTimeout(c.ProduceTimeout),
		// No linger: every request waits for its acknowledgement, so a
		// linger would add its full length to each answer (ProduceSync
		// cancels lingers; TryProduce, which we need for backpressure,
		// cannot). Batching happens anyway while a produce request is in
		// flight: records of concurrent requests queue up behind it.
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1 << 20),
	}
}
