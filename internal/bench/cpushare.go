package bench

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// Profile categories (cpuShares), in the order a sample is tested: the
// first whose function appears anywhere in its stack takes it.
const (
	ShareBroker  = "broker"  // franz-go's kfake, the in-process broker
	ShareWriters = "writers" // the viewers' socket writers
	ShareClients = "clients" // franz-go's kgo clients (produce, fetch, transactions)
	ShareHTTP    = "http"    // net/http serving requests (the publish path's handler included)
	ShareGC      = "gc"      // the garbage collector's background marking
	ShareOther   = "other"   // everything else
)

var shareRules = []struct {
	name  string
	funcs []string
}{
	// kfake's goroutines are its own (listeners, connections, the
	// cluster loop): a kfake frame anywhere in a stack is broker work.
	{ShareBroker, []string{"github.com/twmb/franz-go/pkg/kfake."}},
	// The pushers' per-connection writer and the baselines' write pump.
	{ShareWriters, []string{"ovation/pushers.(*Conn).startWriter", "internal/bench.(*bClient).writePump"}},
	{ShareClients, []string{"github.com/twmb/franz-go/pkg/kgo."}},
	{ShareHTTP, []string{"net/http.(*conn).serve"}},
	{ShareGC, []string{"runtime.gcBgMarkWorker"}},
}

// cpuShares reads a Go CPU profile and returns the share of its CPU time
// in each category above (they sum to 1) and the CPU time it sampled. Each sample goes to one
// category only, the first that matches, so a processor's call into
// franz-go counts as the clients' and a callback franz-go makes counts as
// the clients' too: the split is by who is on the stack, not a cost model.
func cpuShares(path string) (map[string]float64, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	vi := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, 0, fmt.Errorf("%s: no sample values", path)
	}
	sums := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[vi]
		total += v
		sums[classify(s)] += v
	}
	if total == 0 {
		return nil, 0, fmt.Errorf("%s: an empty profile", path)
	}
	out := make(map[string]float64, len(sums))
	for k, v := range sums {
		out[k] = float64(v) / float64(total)
	}
	if p.SampleType[vi].Unit != "nanoseconds" {
		return out, 0, nil
	}
	return out, time.Duration(total), nil
}

func classify(s *profile.Sample) string {
	for _, r := range shareRules {
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				if ln.Function == nil {
					continue
				}
				for _, fn := range r.funcs {
					if strings.Contains(ln.Function.Name, fn) {
						return r.name
					}
				}
			}
		}
	}
	return ShareOther
}
