package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/ingest"
	"github.com/ovation-live/ovation/internal/kquiet"
)

// mirrorFlags turn on "ack after mirror" (ingest/mirror.go) for the
// ingest path of a role: ingest's HTTP endpoint, and the pushers'
// publishes over the socket. The same OVATION_ACK_AFTER_MIRROR_* variables
// set both roles.
type mirrorFlags struct {
	brokers string
	topic   string
	timeout time.Duration
}

func (f *mirrorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.brokers, "ack-after-mirror-brokers", "", "ack after mirror: answer a publish only once the event is in the other region's mirrored events topic on these brokers (comma-separated); empty = ack after the local Kafka commit")
	fs.StringVar(&f.topic, "ack-after-mirror-topic", "", "ack after mirror: this region's events topic as MirrorMaker 2 names it in the other region (e.g. eu.ovation.events)")
	fs.DurationVar(&f.timeout, "ack-after-mirror-timeout", ingest.DefaultMirrorTimeout, "ack after mirror: how long to wait for the mirror before answering mirror_timeout (503, retry with the same id)")
}

// start, when the mode is on, connects the mirror watch, hands it to svc
// and runs it; the returned stop ends it (call it after the server that
// uses svc has stopped). Off: a no-op stop.
func (f *mirrorFlags) start(ctx context.Context, svc *ingest.Service, log *slog.Logger, reg prometheus.Registerer) (stop func(), err error) {
	if f.brokers == "" && f.topic == "" {
		return func() {}, nil
	}
	mc := ingest.MirrorConfig{Brokers: splitList(f.brokers), Topic: f.topic, Timeout: f.timeout}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	mw, err := ingest.NewMirrorWatch(wctx, mc, log, reg, kgo.WithLogger(kquiet.New(log.With("component", "kafka", "role", "ingest-mirror"))))
	wcancel()
	if err != nil {
		return nil, err
	}
	svc.SetMirror(mw)
	mctx, mstop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mw.Run(mctx) }()
	log.Info("ack after mirror: publishes are answered once the other region's mirror has them", "mirror_brokers", mc.Brokers, "mirror_topic", mc.Topic, "timeout", f.timeout)
	return func() { mstop(); <-done }, nil
}
