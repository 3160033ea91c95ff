package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds: frame timestamps are Unix ms, so
// anything finer is noise, but µs keeps sub-millisecond ingest acks exact.
const (
	histMin     = 1
	histMax     = int64(120 * time.Second / time.Microsecond)
	histSigFigs = 3
	// recorderShards spreads thousands of viewer goroutines over this many
	// locks; a viewer always records into the same shard.
	recorderShards = 32
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

// recorder collects one latency distribution for a whole run and per
// interval (for latency over time). Viewers record concurrently; the
// sampler calls interval once a second.
type recorder struct {
	shards [recorderShards]recShard
}

type recShard struct {
	mu       sync.Mutex
	total    *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
	_        [40]byte // keep shards on separate cache lines
}

func newRecorder() *recorder {
	r := &recorder{}
	for i := range r.shards {
		r.shards[i].total = newHist()
		r.shards[i].interval = newHist()
	}
	return r
}

// record adds one latency (µs) to shard k's histograms. Values outside the
// trackable range are clamped so a wild clock never loses a sample.
func (r *recorder) record(k int, us int64) {
	us = min(max(us, histMin), histMax)
	s := &r.shards[k%recorderShards]
	s.mu.Lock()
	s.total.RecordValue(us)
	s.interval.RecordValue(us)
	s.mu.Unlock()
}

// interval returns the samples since the previous call and starts a new
// interval.
func (r *recorder) interval() *hdrhistogram.Histogram {
	out := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.interval)
		s.interval.Reset()
		s.mu.Unlock()
	}
	return out
}

// total returns every sample of the run (or since reset).
func (r *recorder) total() *hdrhistogram.Histogram {
	out := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.total)
		s.mu.Unlock()
	}
	return out
}

// reset drops everything recorded so far: the warm-up does not count.
func (r *recorder) reset() {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		s.total.Reset()
		s.interval.Reset()
		s.mu.Unlock()
	}
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}
