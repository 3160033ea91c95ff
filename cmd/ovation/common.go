package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/httpserver"
	"github.com/ovation-live/ovation/internal/kquiet"
	"github.com/ovation-live/ovation/schemas"
)

// commonFlags are the flags every role shares.
type commonFlags struct {
	brokers   string
	httpAddr  string
	logLevel  string
	logFormat string
	topics    schemas.Topics
	http      httpserver.Config
	// customTypes is the custom event types file; custom is it loaded.
	customTypes string
	custom      *schemas.Registry
	// deploymentRoom is the room whose bans, timeouts and word filters
	// apply to every room (docs/moderation.md); "": none.
	deploymentRoom string
	// auth
	authDisabled bool
	hmacSecrets  string
	publicKeys   string
	issuer       string
	audience     string
}

func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ovation "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ovation %s [flags]\n\n%s\n\nFlags (each also read from OVATION_<FLAG_NAME>, e.g. --kafka-brokers is OVATION_KAFKA_BROKERS):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func (c *commonFlags) register(fs *flag.FlagSet, defaultHTTP string) {
	fs.StringVar(&c.brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.httpAddr, "http-addr", defaultHTTP, "listen address for this role's HTTP port (/healthz, /readyz, /metrics and the role's endpoints)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.topics.Events, "topic-events", schemas.DefaultEventsTopic, "events topic")
	fs.StringVar(&c.topics.Frames, "topic-frames", schemas.DefaultFramesTopic, "room frames topic")
	fs.StringVar(&c.topics.Snapshots, "topic-snapshots", schemas.DefaultSnapshotsTopic, "room snapshots topic (compacted)")
	fs.StringVar(&c.topics.Changelog, "topic-changelog", schemas.DefaultChangelogTopic, "processor state changelog topic (compacted)")
	fs.StringVar(&c.topics.DLQ, "topic-dlq", schemas.DefaultDLQTopic, "dead-letter topic for invalid events")
	fs.StringVar(&c.customTypes, "custom-types", "", "custom event types file (YAML or JSON, docs/custom.md); every role of a deployment must load the same file")
	fs.StringVar(&c.deploymentRoom, "deployment-room", schemas.DefaultDeploymentRoom, "the room whose mod.ban, mod.timeout, mod.unban and mod.filters apply to every room of the deployment (moderators of it ban everywhere; docs/moderation.md); every role must use the same; empty: none")
	c.http.RegisterFlags(fs)
}

func (c *commonFlags) registerAuth(fs *flag.FlagSet) {
	fs.BoolVar(&c.authDisabled, "auth-disabled", false, "turn token auth OFF: anyone may do anything (development only)")
	fs.StringVar(&c.hmacSecrets, "auth-hs256-secrets", "", "HS256 secrets as kid=secret pairs, comma-separated (a bare secret has kid \"\"); at least 32 bytes each")
	fs.StringVar(&c.publicKeys, "auth-public-keys", "", "RS256/ES256 public keys as kid=path/to/key.pem pairs, comma-separated")
	fs.StringVar(&c.issuer, "auth-issuer", "", "required iss claim, if set")
	fs.StringVar(&c.audience, "auth-audience", "", "required aud claim, if set")
}

// parseFlags parses args, then OVATION_* env vars for flags not given.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := ff.Parse(fs, args, ff.WithEnvVarPrefix("OVATION"))
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err == nil && fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return err
}

// parse reads the flags (then OVATION_* env vars), validates the common
// ones and builds the role's logger: every role's first step.
func (c *commonFlags) parse(fs *flag.FlagSet, args []string, stderr io.Writer) (*slog.Logger, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return nil, err
	}
	return log, c.validate()
}

func (c *commonFlags) brokerList() []string {
	var out []string
	for _, b := range strings.Split(c.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (c *commonFlags) validate() error {
	if len(c.brokerList()) == 0 {
		return errors.New("--kafka-brokers is empty")
	}
	if err := c.http.Validate(); err != nil {
		return err
	}
	c.topics = c.topics.WithDefaults()
	if err := c.topics.Validate(); err != nil {
		return err
	}
	if c.deploymentRoom != "" {
		if err := schemas.CheckRoom(c.deploymentRoom); err != nil {
			return fmt.Errorf("--deployment-room: %w", err)
		}
	}
	return c.loadCustom()
}

// loadCustom loads --custom-types: a bad file stops the role at startup.
func (c *commonFlags) loadCustom() error {
	g, err := schemas.LoadRegistry(c.customTypes)
	if err != nil {
		return fmt.Errorf("--custom-types: %w", err)
	}
	c.custom = g
	return nil
}

func (c *commonFlags) authConfig() (auth.Config, error) {
	cfg := auth.Config{Disabled: c.authDisabled, Issuer: c.issuer, Audience: c.audience}
	if c.hmacSecrets != "" {
		cfg.HMACSecrets = map[string][]byte{}
		for _, p := range strings.Split(c.hmacSecrets, ",") {
			kid, secret, ok := strings.Cut(p, "=")
			if !ok {
				kid, secret = "", p
			}
			cfg.HMACSecrets[kid] = []byte(secret)
		}
	}
	if c.publicKeys != "" {
		cfg.PublicKeys = map[string]crypto.PublicKey{}
		for _, p := range strings.Split(c.publicKeys, ",") {
			kid, path, ok := strings.Cut(p, "=")
			if !ok {
				kid, path = "", p
			}
			k, err := auth.LoadPublicKeyFile(path)
			if err != nil {
				return cfg, err
			}
			cfg.PublicKeys[kid] = k
		}
	}
	return cfg, cfg.Validate()
}

func (c *commonFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", c.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
}

// newRegistry returns a registry with the Go and process collectors, the
// one registry a process's roles register into.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// kafkaOpts returns the client options every role starts from: brokers,
// logging through slog and metrics through kprom under the role's name.
func kafkaOpts(brokers []string, role string, log *slog.Logger, reg prometheus.Registerer) []kgo.Opt {
	metrics := kprom.NewMetrics("ovation_kafka",
		kprom.Registerer(prometheus.WrapRegistererWith(prometheus.Labels{"role": role}, reg)),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.Batches, kprom.Records, kprom.CompressedBytes, kprom.UncompressedBytes))
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("ovation-" + role),
		kgo.WithLogger(kquiet.New(log.With("component", "kafka", "role", role))),
		kgo.WithHooks(metrics),
	}
}

// readiness is a role's /readyz state: ready once started, not ready while
// draining. Safe for concurrent use.
type readiness struct {
	ready  atomic.Bool
	reason atomic.Value // string
}

func (r *readiness) set(ok bool, reason string) {
	r.reason.Store(reason)
	r.ready.Store(ok)
}

// adminMux returns a mux with /healthz, /readyz and /metrics.
func adminMux(reg *prometheus.Registry, ready *readiness) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		reason, _ := ready.reason.Load().(string)
		if !ready.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "{\"status\":\"not ready\",\"reason\":%q}\n", reason)
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// serveHTTP serves h on --http-addr with the --http-* bounds until ctx
// ends, then shuts down within grace. It returns once the listener is
// closed and handlers are done.
func (c *commonFlags) serveHTTP(ctx context.Context, h http.Handler, log *slog.Logger, grace time.Duration) error {
	return httpserver.ListenAndServe(ctx, c.httpAddr, h, c.http, log, grace)
}

// verifier builds the token verifier from the auth flags, and says loudly
// when auth is off.
func (c *commonFlags) verifier(log *slog.Logger) (*auth.Verifier, error) {
	acfg, err := c.authConfig()
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(acfg)
	if err != nil {
		return nil, err
	}
	if v.Disabled() {
		warnAuthDisabled(log)
	}
	return v, nil
}

func warnAuthDisabled(log *slog.Logger) {
	log.Warn("AUTH IS DISABLED: any client may publish, moderate and host in any room. Never run this in production.")
}
