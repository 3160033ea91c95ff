package pushers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/origin"
	"github.com/ovation-live/ovation/schemas"
)

// PublishFunc hands one client event (JSON: id, type, data) for claims'
// user in room to the ingest path and returns the event id once Kafka
// acknowledged it. A refusal is a *schemas.PublishError.
type PublishFunc func(ctx context.Context, claims *auth.Claims, room string, event []byte) (string, error)

// Config configures a Server. Zero values mean the documented default.
type Config struct {
	// Node names this pusher in presence reports and the welcome message;
	// empty means the hostname plus a random suffix. Letters, digits and
	// "-_.:" only.
	Node string
	// Topics names the Kafka topics; empty names are the defaults.
	Topics schemas.Topics
	// DeploymentRoom is the room whose sanctions apply in every room
	// (--deployment-room; docs/moderation.md): a user it sanctions loses
	// every subscription on this pusher and may not subscribe anywhere.
	// Empty: none.
	DeploymentRoom string
	// KafkaOpts are the base client options (seed brokers, logger, hooks).
	// The server builds its consumers and its presence producer from them.
	KafkaOpts []kgo.Opt
	// Verifier checks tokens. Required.
	Verifier *auth.Verifier
	// AllowedOrigins lists origins ("https://app.example.com") allowed
	// besides the same origin; "*" allows every origin. Origins compare
	// as scheme, host and port exactly (internal/origin).
	AllowedOrigins []string
	// Publish is the ingest path for the publish op; nil answers every
	// publish with publish_unavailable.
	Publish PublishFunc

	// Window is how long frames stay in memory for resumes; zero means 2m.
	Window time.Duration
	// RoomWindowBytes bounds one room's in-memory window; zero means 1 MiB.
	RoomWindowBytes int
	// MaxWindowBytes bounds all rooms' windows together; past it, rooms
	// without subscribers lose their windows first (older positions are
	// then served from Kafka). Zero means 256 MiB.
	MaxWindowBytes int64
	// MaxSnapshotBytes bounds the snapshots held in memory; past it, the
	// snapshots of rooms without subscribers are kept as Kafka offsets
	// and read back when someone subscribes. Zero means 256 MiB.
	MaxSnapshotBytes int64
	// RoomIdle is how long a room stays in memory without subscribers and
	// without frames (once its window emptied); then it is evicted and
	// keeps only its latest snapshot's Kafka location (about 100 bytes),
	// and is restored on its next subscribe or frame. A room that holds
	// nothing (no snapshot, no frames) goes at once. Zero means 10m, the
	// processors' default for the same flag (--room-idle).
	RoomIdle time.Duration
	// SnapshotWait is how long a subscribe may wait for a room's snapshot
	// to become consistent with its frames before it is answered with
	// "unavailable"; zero means 5s.
	SnapshotWait time.Duration
	// AheadWait is how long a resume whose seq is ahead of what this
	// pusher has read waits for the room to reach it (the client came
	// from a pusher further along) before it is answered with a snapshot
	// (recovered:false); zero means 2s.
	AheadWait time.Duration

	// MaxRooms limits subscriptions per connection; zero means 100.
	MaxRooms int
	// MaxMessageBytes limits one client message; zero means 32 KiB.
	MaxMessageBytes int64
	// InboundRate is the sustained client messages per second per
	// connection; zero means 50. InboundBurst zero means 100.
	InboundRate  float64
	InboundBurst int
	// MaxConnsPerUser limits one user's connections on this node; zero
	// means 100, negative means unlimited. Not enforced with auth off.
	MaxConnsPerUser int
	// MaxInflightPublishes limits concurrent publishes per connection;
	// zero means 32.
	MaxInflightPublishes int
	// TokenLeeway is the clock skew allowed on a token's exp on an open
	// connection: at exp + TokenLeeway the server closes it with 4002
	// unless a refresh op brought a newer token. Zero means 30s.
	TokenLeeway time.Duration
	// RefreshBefore is how long before a token's exp the server sends the
	// refresh hint (never before half of the token's remaining life has
	// passed). Zero means 60s.
	RefreshBefore time.Duration

	// MergeBytes is the queue size at which a connection's queued frames
	// are merged per room; zero means 64 KiB.
	MergeBytes int
	// MaxQueueBytes is the hard bound of a connection's queue after
	// merging; past it the connection is closed with 4009. Zero means 1 MiB.
	MaxQueueBytes int
	// WriteTimeout bounds one write to a socket; zero means 10s.
	WriteTimeout time.Duration
	// PingInterval is the period of server pings; a connection silent for
	// two intervals is closed. Zero means 25s.
	PingInterval time.Duration
	// Compression negotiates permessage-deflate (RFC 7692, no context
	// takeover) with clients that offer it. Off by default: on the frames
	// pushers send it saves little and costs more CPU per frame than the
	// whole uncompressed write (docs/benchmarks.md, Compression).
	Compression bool
	// SocketWriteBuffer sets SO_SNDBUF on accepted sockets; zero keeps
	// the OS default. Small values make slow clients visible sooner.
	SocketWriteBuffer int

	// PresenceInterval is how often viewer counts are reported; zero
	// means 5s.
	PresenceInterval time.Duration
	// DrainWindow spreads the reconnect closes of a drain; zero means 10s.
	DrainWindow time.Duration

	// Log receives the server's logs; nil means slog.Default().
	Log *slog.Logger
	// Registerer receives the server's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Validate checks c and fills its defaults.
func (c *Config) Validate() error {
	if c.Verifier == nil {
		return errors.New("pushers: Config.Verifier is required")
	}
	if c.Node == "" {
		h, _ := os.Hostname()
		var b [3]byte
		rand.Read(b[:])
		c.Node = sanitizeNode(h) + "-" + hex.EncodeToString(b[:])
	}
	if err := schemas.CheckID(c.Node); err != nil {
		return fmt.Errorf("pushers: Node %q: %w", c.Node, err)
	}
	c.Topics = c.Topics.WithDefaults()
	if err := c.Topics.Validate(); err != nil {
		return err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defi := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&c.Window, 2*time.Minute)
	def(&c.SnapshotWait, 5*time.Second)
	def(&c.AheadWait, 2*time.Second)
	def(&c.RoomIdle, 10*time.Minute)
	def(&c.TokenLeeway, 30*time.Second)
	def(&c.RefreshBefore, time.Minute)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.PingInterval, 25*time.Second)
	def(&c.PresenceInterval, 5*time.Second)
	def(&c.DrainWindow, 10*time.Second)
	defi(&c.RoomWindowBytes, 1<<20)
	defi(&c.MaxRooms, 100)
	defi(&c.InboundBurst, 100)
	defi(&c.MaxConnsPerUser, 100)
	defi(&c.MaxInflightPublishes, 32)
	defi(&c.MergeBytes, 64<<10)
	defi(&c.MaxQueueBytes, 1<<20)
	if c.MaxWindowBytes == 0 {
		c.MaxWindowBytes = 256 << 20
	}
	if c.MaxSnapshotBytes == 0 {
		c.MaxSnapshotBytes = 256 << 20
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 32 << 10
	}
	if c.InboundRate == 0 {
		c.InboundRate = 50
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	switch {
	case c.Window < 0 || c.RoomIdle < 0 || c.SnapshotWait < 0 || c.WriteTimeout < 0 || c.PingInterval < 0 || c.PresenceInterval < 0 || c.DrainWindow < 0 || c.AheadWait < 0 ||
		c.TokenLeeway < 0 || c.RefreshBefore < 0:
		return errors.New("pushers: durations must not be negative")
	case c.RoomWindowBytes < 0 || c.MaxRooms < 0 || c.MaxMessageBytes < 0 || c.InboundRate < 0 || c.InboundBurst < 0:
		return errors.New("pushers: limits must not be negative")
	case c.MergeBytes <= 0 || c.MaxQueueBytes < c.MergeBytes:
		return fmt.Errorf("pushers: MaxQueueBytes (%d) must be at least MergeBytes (%d)", c.MaxQueueBytes, c.MergeBytes)
	case c.MaxMessageBytes < 1024:
		return fmt.Errorf("pushers: MaxMessageBytes %d is below 1024", c.MaxMessageBytes)
	}
	if _, err := origin.New(c.AllowedOrigins); err != nil {
		return fmt.Errorf("pushers: %w", err)
	}
	return nil
}

func sanitizeNode(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	if len(b) == 0 {
		return "pusher"
	}
	return string(b)
}
