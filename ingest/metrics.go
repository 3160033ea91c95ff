package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovation-live/ovation/schemas"
)

// metrics are the role's Prometheus series. Label values come from closed
// sets (event types, error codes, transports), never from a user, room or
// connection, so the series count is fixed.
type metrics struct {
	accepted   *prometheus.CounterVec // type
	rejected   *prometheus.CounterVec // type, reason
	requests   *prometheus.CounterVec // transport, result
	produceLat prometheus.Histogram
	inflight   prometheus.Gauge // bytes handed to the producer and not yet acknowledged
}

// Transport label values.
const (
	transportHTTP = "http"
	transportWS   = "ws"
)

// typeLabel maps an event type to a bounded label value: a client may send
// any string as its type. It returns the package's constant, never t: on
// the HTTP path t points into the pooled request buffer (zero-copy
// decoding), and a label outlives the request, so returning t made the
// series read whatever the next request wrote there (and /metrics answer
// 500 on invalid UTF-8).
func typeLabel(t schemas.Type) string {
	for _, k := range schemas.Types {
		if k == t {
			return string(k)
		}
	}
	if len(t) > len(schemas.CustomPrefix) && string(t[:len(schemas.CustomPrefix)]) == schemas.CustomPrefix {
		return "custom" // one label for every custom type: their names are the deployment's
	}
	return "invalid"
}

func newMetrics(reg prometheus.Registerer, s *Service) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovation_ingest_events_accepted_total",
			Help: "Events Kafka acknowledged, by event type.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovation_ingest_events_rejected_total",
			Help: "Events refused, by event type (\"invalid\" when unknown or unreadable) and error code.",
		}, []string{"type", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ovation_ingest_requests_total",
			Help: "Publish requests by transport and result: ok, partial, or the error code of a refused request.",
		}, []string{"transport", "result"}),
		produceLat: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ovation_ingest_produce_latency_seconds",
			Help:    "Time from handing an event to the producer to Kafka's acknowledgement (or failure).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ovation_ingest_inflight_bytes",
			Help: "Bytes of events handed to the Kafka producer and not yet acknowledged.",
		}),
	}
	limiterKeys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ovation_ingest_rate_limiter_keys",
		Help: "Users and client addresses that currently have a token bucket.",
	}, func() float64 {
		u, _ := s.userLim.size()
		c, _ := s.clientLim.size()
		return float64(u + c)
	})
	reg.MustRegister(m.accepted, m.rejected, m.requests, m.produceLat, m.inflight, limiterKeys)
	// Pre-create the series users alert on, so a rate() sees 0 before the
	// first event instead of no data.
	for _, t := range schemas.Types {
		m.accepted.WithLabelValues(string(t))
	}
	for _, tr := range []string{transportHTTP, transportWS} {
		m.requests.WithLabelValues(tr, "ok")
	}
	return m
}
