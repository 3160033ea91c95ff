package processors

import "github.com/prometheus/client_golang/prometheus"

// metrics are the processor's Prometheus metrics. Labels are bounded: an
// outcome reason or a transaction result, never a room or user.
type metrics struct {
	applied     prometheus.Counter
	ignored     *prometheus.CounterVec
	dlq         *prometheus.CounterVec
	frames      prometheus.Counter
	snapshots   prometheus.Counter
	changelog   prometheus.Counter
	changeBytes prometheus.Counter
	txns        *prometheus.CounterVec
	commitSecs  prometheus.Histogram
	restoreSecs prometheus.Histogram
	restoreRecs prometheus.Counter
	rebuilds    prometheus.Counter
	lag         prometheus.Gauge
	partitions  prometheus.Gauge
	sessions    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	ns := "ovation_processor_"
	m := &metrics{
		applied:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "events_applied_total", Help: "Events that changed a room, in committed and aborted transactions alike (see transactions_total)."}),
		ignored:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "events_ignored_total", Help: "Valid events that changed nothing (duplicates, votes on closed polls, …), by reason."}, []string{"reason"}),
		dlq:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "events_dead_lettered_total", Help: "Records written to the dead-letter topic, by reason."}, []string{"reason"}),
		frames:      prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "frames_written_total", Help: "Frames produced into committed transactions."}),
		snapshots:   prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "snapshots_written_total", Help: "Snapshots produced into committed transactions."}),
		changelog:   prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "changelog_records_total", Help: "Changelog records produced into committed transactions."}),
		changeBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "changelog_bytes_total", Help: "Changelog value bytes produced into committed transactions."}),
		txns:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "transactions_total", Help: "Transactions ended, by result (commit, abort)."}, []string{"result"}),
		commitSecs:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "txn_commit_seconds", Help: "Time to end a transaction (flush, offset commit, EndTxn).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		restoreSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "restore_seconds", Help: "Time to restore one partition from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		restoreRecs: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "restore_records_total", Help: "Changelog records read while restoring."}),
		rebuilds:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "rebuilds_total", Help: "Rooms rebuilt into a fresh epoch from a control record."}),
		lag:         prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "consumer_lag_records", Help: "Events not yet consumed in the owned partitions (high watermark minus position), as of the last fetch."}),
		partitions:  prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "partitions_owned", Help: "Events partitions whose state is loaded."}),
		sessions:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "sessions_started_total", Help: "Kafka sessions started (more than one means a fatal error was recovered by reconnecting)."}),
	}
	reg.MustRegister(m.applied, m.ignored, m.dlq, m.frames, m.snapshots, m.changelog, m.changeBytes,
		m.txns, m.commitSecs, m.restoreSecs, m.restoreRecs, m.rebuilds, m.lag, m.partitions, m.sessions)
	return m
}
