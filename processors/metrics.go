package processors

import "github.com/prometheus/client_golang/prometheus"

// metrics are the processor's Prometheus metrics. Labels are bounded: an
// outcome reason or a transaction result, never a room or user.
type metrics struct {
	applied     prometheus.Counter
	ignored     *prometheus.CounterVec
	dlq         *prometheus.CounterVec
	rerouted    prometheus.Counter
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

	consecAborts prometheus.Gauge
	tooLarge     *prometheus.CounterVec
	evictions    prometheus.Counter
	loads        prometheus.Counter
	loadSecs     prometheus.Histogram
	rooms        prometheus.Gauge
	evicted      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	ns := "ovation_processor_"
	m := &metrics{
		applied:     prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "events_applied_total", Help: "Events that changed a room, in committed and aborted transactions alike (see transactions_total)."}),
		ignored:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "events_ignored_total", Help: "Valid events that changed nothing (duplicates, votes on closed polls, …), by reason."}, []string{"reason"}),
		dlq:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "events_dead_lettered_total", Help: "Records written to the dead-letter topic, by reason."}, []string{"reason"}),
		rerouted:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "events_rerouted_total", Help: "Events read in another partition than their room's (another partitioner or key) and copied into it, in committed transactions."}),
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

		consecAborts: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "consecutive_aborts", Help: "Transactions aborted in a row since the last commit; more than a few means partitions are not moving."}),
		tooLarge:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "records_too_large_total", Help: "Records not produced because they were larger than the topics allow (the transaction aborted and the room's events were dead-lettered), by kind."}, []string{"kind"}),
		evictions:    prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "rooms_evicted_total", Help: "Idle rooms evicted from memory (their state stays in the changelog)."}),
		loads:        prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "rooms_loaded_total", Help: "Evicted rooms loaded back from the changelog on their next event."}),
		loadSecs:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "room_load_seconds", Help: "Time to load one evicted room from the changelog.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		rooms:        prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "rooms_in_memory", Help: "Rooms whose state is in memory (active within the idle time)."}),
		evicted:      prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "rooms_evicted", Help: "Rooms known only by where their state is in the changelog."}),
	}
	reg.MustRegister(m.applied, m.ignored, m.dlq, m.rerouted, m.frames, m.snapshots, m.changelog, m.changeBytes,
		m.txns, m.commitSecs, m.restoreSecs, m.restoreRecs, m.rebuilds, m.lag, m.partitions, m.sessions,
		m.consecAborts, m.tooLarge, m.evictions, m.loads, m.loadSecs, m.rooms, m.evicted)
	// Labelled counters start at zero, so an alert on rate() fires on
	// the first increase rather than on the second.
	for _, r := range deadLetterReasons {
		m.dlq.WithLabelValues(string(r))
	}
	for _, r := range ignoreReasons {
		m.ignored.WithLabelValues(string(r))
	}
	for _, res := range []string{"commit", "abort"} {
		m.txns.WithLabelValues(res)
	}
	for _, k := range []recKind{kindFrame, kindSnapshot, kindChangelog} {
		m.tooLarge.WithLabelValues(k.String())
	}
	return m
}
