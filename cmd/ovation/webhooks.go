package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ovation-live/ovation/pushers/webhooks"
)

func runWebhooks(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c commonFlags
	var cfg webhooks.Config
	var secret, kinds string
	fs := newFlagSet("webhooks", "Deliver room events (poll closed with results, quiz revealed, moderation, room summaries) to an\nHTTP endpoint: HMAC-signed, retried with backoff, keyed room/epoch/seq/n, in order per room,\ndead-lettered after --webhook-max-attempts (docs/webhooks.md).", stderr)
	c.register(fs, "127.0.0.1:8086")
	fs.StringVar(&cfg.Endpoint, "webhook-url", "", "endpoint events are POSTed to (http or https)")
	fs.StringVar(&secret, "webhook-secret", "", "HMAC-SHA256 signing secret, 16 bytes or more (prefer OVATION_WEBHOOK_SECRET)")
	fs.StringVar(&kinds, "webhook-events", strings.Join(webhooks.AllKinds, ","), "comma-separated kinds to deliver: "+strings.Join(webhooks.AllKinds, ", "))
	fs.StringVar(&cfg.StateURL, "state-url", "", "a pusher's base URL (http://push:8080) for room state: results and summaries")
	fs.StringVar(&cfg.StateToken, "state-token", "", "bearer token for the state URL, with subscribe in every room (prefer OVATION_STATE_TOKEN)")
	fs.DurationVar(&cfg.SummaryEvery, "summary-every", time.Minute, "room.summary period, for rooms that changed")
	fs.IntVar(&cfg.MaxAttempts, "webhook-max-attempts", 20, "tries of one event before it is dead-lettered")
	fs.DurationVar(&cfg.BackoffMax, "webhook-backoff-max", 5*time.Second, "longest wait between tries")
	fs.DurationVar(&cfg.Timeout, "webhook-timeout", 10*time.Second, "bound on one POST")
	fs.StringVar(&cfg.DLQTopic, "topic-webhooks-dlq", "ovation.webhooks-dlq", "topic for events given up")
	fs.StringVar(&cfg.Group, "webhooks-group", "ovation-webhooks", "Kafka consumer group of the webhooks role")
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	cfg.Secret = []byte(secret)
	for _, k := range strings.Split(kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	reg := newRegistry()
	cfg.Brokers = c.brokerList()
	cfg.Topics = c.topics
	cfg.Log = log.With("role", "webhooks")
	cfg.Registerer = reg
	cfg.KafkaOpts = kafkaOpts(cfg.Brokers, "webhooks", log, reg)
	d, err := webhooks.New(cfg)
	if err != nil {
		return err
	}
	ready := &readiness{}
	ready.set(true, "")
	mux := adminMux(reg, ready)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Run(gctx) })
	g.Go(func() error { return c.serveHTTP(gctx, mux, log, 3*time.Second) })
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}
