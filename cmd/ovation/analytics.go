package main

import (
	"context"
	"errors"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ovation-live/ovation/analytics"
)

// runAnalytics serves the analytics API alone: stateless, any number of
// processes behind the same load balancer rule as the sinks' API.
func runAnalytics(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c commonFlags
	var ch clickhouseFlags
	var grace time.Duration
	var cfg analytics.APIConfig
	fs := newFlagSet("analytics", "Serve the analytics API, GET /v1/rooms/{room}/analytics/{summary,timeseries,chat}, from ClickHouse.\nStateless: run as many as the queries need, behind the same route as the sinks' API.\n(The Kafka flags are accepted and unused.)", stderr)
	c.register(fs, "127.0.0.1:8085")
	c.registerAuth(fs)
	ch.register(fs)
	fs.DurationVar(&cfg.QueryTimeout, "query-timeout", 15*time.Second, "longest a request's ClickHouse queries may take")
	fs.DurationVar(&grace, "shutdown-grace", 10*time.Second, "on SIGTERM, how long in-flight API requests may take")
	log, err := c.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	verifier, err := c.verifier(log)
	if err != nil {
		return err
	}
	cfg.ClickHouse = ch.config()
	cfg.Verifier = verifier
	cfg.Log = log.With("role", "analytics-api")
	api, err := analytics.NewAPI(cfg)
	if err != nil {
		return err
	}
	defer api.Close()
	reg := newRegistry()
	ready := &readiness{}
	ready.set(false, "starting")
	mux := adminMux(reg, ready)
	api.Register(mux)
	log.Info("analytics API starting", "clickhouse", ch.addr, "database", ch.database, "cluster", ch.cluster, "http", c.httpAddr)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return pingReadiness(gctx, api, ready) })
	g.Go(func() error { return c.serveHTTP(gctx, mux, log, grace) })
	err = g.Wait()
	log.Info("analytics API stopped")
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// pingReadiness makes /readyz follow ClickHouse every 2 s: not ready while
// no configured address answers.
func pingReadiness(ctx context.Context, api *analytics.API, ready *readiness) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if err := api.Ping(ctx); err != nil {
			ready.set(false, err.Error())
		} else {
			ready.set(true, "")
		}
		select {
		case <-ctx.Done():
			ready.set(false, "shutting down")
			return nil
		case <-t.C:
		}
	}
}
