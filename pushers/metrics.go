package pushers

import "github.com/prometheus/client_golang/prometheus"

// metrics are the server's Prometheus metrics. No label carries a user,
// room or connection id.
type metrics struct {
	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	rooms         prometheus.Gauge
	idleRooms     prometheus.Gauge
	evictions     prometheus.Counter
	framesIn      prometheus.Counter
	badRecords    *prometheus.CounterVec
	framesOut     prometheus.Counter
	bytesOut      prometheus.Counter
	writes        prometheus.Counter
	queueBytes    prometheus.Gauge
	windowBytes   prometheus.Gauge
	merges        prometheus.Counter
	slowCloses    prometheus.Counter
	closes        *prometheus.CounterVec
	resumes       *prometheus.CounterVec
	resyncs       prometheus.Counter
	errors        *prometheus.CounterVec
	latency       prometheus.Histogram
	presence      prometheus.Counter
	refreshHints  prometheus.Counter
	refreshes     *prometheus.CounterVec
	tokenExpiries prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovation_push_connections", Help: "Open WebSocket connections."}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovation_push_subscriptions", Help: "Room subscriptions over all connections."}),
		rooms:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovation_push_rooms", Help: "Rooms held in memory (window or snapshot)."}),
		idleRooms:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovation_push_idle_rooms", Help: "Rooms evicted for idleness that keep only their snapshot's Kafka location."}),
		evictions:     prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_room_evictions_total", Help: "Rooms with history evicted from memory after the idle timeout."}),
		framesIn:      prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_frames_in_total", Help: "Frames read from Kafka."}),
		badRecords:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovation_push_bad_records_total", Help: "Frame or snapshot records skipped, by topic kind and reason."}, []string{"kind", "reason"}),
		framesOut:     prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_frames_out_total", Help: "Frame messages written to sockets (a merged frame counts once)."}),
		bytesOut:      prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_bytes_out_total", Help: "Payload bytes of messages written to sockets."}),
		writes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_socket_writes_total", Help: "Batched socket writes (several messages per write when a client is behind)."}),
		queueBytes:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovation_push_queue_bytes", Help: "Bytes queued for sockets over all connections."}),
		windowBytes:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovation_push_window_bytes", Help: "Bytes of frames held in the rooms' resume windows."}),
		merges:        prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_merges_total", Help: "Frames merged into another because a client fell behind."}),
		slowCloses:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_slow_closes_total", Help: "Connections closed with 4009 (too slow) or a write timeout."}),
		closes:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovation_push_closes_total", Help: "Connections closed by the server, by close code."}, []string{"code"}),
		resumes:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovation_push_resumes_total", Help: "Subscribes with a position, by outcome (recovered or reset)."}, []string{"outcome"}),
		resyncs:       prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_resyncs_total", Help: "Subscriptions reset to a snapshot mid-stream (epoch change or repair)."}),
		errors:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovation_push_errors_total", Help: "Error replies sent, by code."}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ovation_push_delivery_latency_seconds", Help: "Time from a frame's event time to its write to a socket.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		presence:      prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_presence_reports_total", Help: "Presence events produced."}),
		refreshHints:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_token_refresh_hints_total", Help: "Refresh hints sent ahead of a token's exp."}),
		refreshes:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovation_push_token_refreshes_total", Help: "Refresh ops, by outcome (ok or the refusal code)."}, []string{"outcome"}),
		tokenExpiries: prometheus.NewCounter(prometheus.CounterOpts{Name: "ovation_push_token_expiry_closes_total", Help: "Connections closed with 4002 because their token expired while open."}),
	}
	// Every refresh outcome exists from the start, so rate() alerts see
	// the first refusal.
	for _, o := range []string{"ok", CodeInvalidToken, CodeTokenExpired, CodeTokenWrongUser, CodeTokenNotNewer} {
		m.refreshes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.subscriptions, m.rooms, m.idleRooms, m.evictions, m.framesIn, m.badRecords, m.framesOut, m.bytesOut,
			m.writes, m.queueBytes, m.windowBytes, m.merges, m.slowCloses, m.closes, m.resumes, m.resyncs, m.errors, m.latency, m.presence,
			m.refreshHints, m.refreshes, m.tokenExpiries)
	}
	return m
}
