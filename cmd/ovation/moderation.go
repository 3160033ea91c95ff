package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/ingest"
	"github.com/ovation-live/ovation/internal/kquiet"
	"github.com/ovation-live/ovation/schemas"
)

// moderationFlags turn ingest's moderation pre-check on or off.
type moderationFlags struct{ on bool }

func (f *moderationFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "moderation-precheck", true, "refuse events of banned or timed-out users and events a room control forbids before producing them, from a view kept by reading the frames and snapshots topics (docs/moderation.md); the processors enforce the same either way")
}

// startModeration, when on, starts the moderation watch feeding svc's
// view; the returned stop ends it (call it after the server that uses svc
// stopped). Off: a no-op stop.
func startModeration(on bool, brokers []string, topics schemas.Topics, deploymentRoom string, svc *ingest.Service, log *slog.Logger) (stop func(), err error) {
	if !on {
		return func() {}, nil
	}
	view := ingest.NewModView()
	view.SetDeploymentRoom(deploymentRoom)
	w, err := ingest.NewModWatch(brokers, topics.Frames, topics.Snapshots, view, log,
		kgo.WithLogger(kquiet.New(log.With("component", "kafka", "role", "ingest-moderation"))))
	if err != nil {
		return nil, err
	}
	svc.SetModeration(view)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, topics.Frames) }()
	log.Info("moderation pre-check on: bans, timeouts and room controls are refused at ingest", "frames", topics.Frames, "snapshots", topics.Snapshots)
	return func() { cancel(); <-done }, nil
}
