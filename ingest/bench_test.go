package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// BenchmarkHTTPVsBareProducer measures, side by side in one process, events
// per second through the whole ingest path (HTTP request, token check,
// schema validation, rate limits, produce, wait for acks, JSON answer)
// against a bare franz-go producer writing the same events with the same
// producer options and waiting for the same acks. One op is a batch of 100
// events; both run with the same number of concurrent workers. It uses the
// Kafka in OVATION_KAFKA_BROKERS, or kfake when that is unset (then the
// ratio mostly measures CPU, since kfake is in process).
//
// The paths: bare (the producer alone), http (loopback, the client in
// this process), handler (ServeHTTP called in process), http-ext (the
// client in a child process, so this process is ingest's server alone)
// and ceiling (the child client posting to a handler that only reads the
// body and writes pre-built records: HTTP and the producer, no ingest).
// docs/ingest.md ("What a publish costs") reads the numbers.
//
//	OVATION_KAFKA_BROKERS=127.0.0.1:32092 go test -run '^$' -bench HTTPVsBare -benchtime 3000x ./ingest/
func BenchmarkHTTPVsBareProducer(b *testing.B) {
	const batch = 100
	var brokers []string
	var topic string
	if v := strings.TrimSpace(os.Getenv(kafkatest.EnvBrokers)); v != "" {
		brokers = kafkatest.Brokers(b)
		topic = kafkatest.Topic(b, brokers, 6)
	} else {
		topic = "ovation.events"
		brokers = newFake(b, 6, topic).ListenAddrs()
	}
	cfg := Config{UserRate: -1, ClientRate: -1}
	var ingestBatches, bareBatches batchCounter
	r := newRig(b, brokers, topic, cfg, kgo.WithHooks(&ingestBatches))
	bare, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.WithHooks(&bareBatches)}, (Config{Topic: topic}).ProducerOpts()...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()

	const workers = 16
	rooms := make([]string, workers)
	toks := make([]string, workers)
	bodies := make([][]byte, workers)
	values := make([][][]byte, workers) // the events as ingest writes them
	for w := range rooms {
		rooms[w] = fmt.Sprintf("bench-%02d", w)
		toks[w] = pubToken(b, fmt.Sprintf("user-%02d", w), rooms[w])
		var body bytes.Buffer
		body.WriteByte('[')
		for i := 0; i < batch; i++ {
			if i > 0 {
				body.WriteByte(',')
			}
			data := `{"text":"a chat message of a typical length, with a name","name":"Viewer"}`
			fmt.Fprintf(&body, `{"type":"chat.message","data":%s}`, data)
			ev := schemas.Event{V: 1, ID: fmt.Sprintf("019a2565-18a1-7803-9426-%012d", w*batch+i), Room: rooms[w], User: fmt.Sprintf("user-%02d", w), Type: schemas.ChatMessage, TS: time.Now().UnixMilli(), Data: []byte(data)}
			v, err := ev.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			values[w] = append(values[w], v)
		}
		body.WriteByte(']')
		bodies[w] = body.Bytes()
	}
	// Warm both paths up: metadata, producer id, connections.
	ctx := context.Background()
	if err := bare.ProduceSync(ctx, &kgo.Record{Key: []byte(rooms[0]), Value: values[0][0]}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	if rep := post(b, r.srv.Client(), r.url(rooms[0]), toks[0], bodies[0]); rep.status != 200 {
		b.Fatalf("warm-up: %d %s", rep.status, rep.raw)
	}

	// The same loopback client in a child process (benchclient_test.go),
	// so this process is the HTTP server alone: http-ext posts to ingest,
	// ceiling to a handler that only reads the body and produces
	// pre-built records with ingest's producer options.
	var ceilBatches batchCounter
	ceilCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.WithHooks(&ceilBatches)}, (Config{Topic: topic}).ProducerOpts()...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer ceilCl.Close()
	ceilSrv := httptest.NewServer(ceilingHandler(ceilCl, rooms, values))
	defer ceilSrv.Close()
	ext := startBenchClient(b, benchClientSpec{URLs: []string{r.srv.URL + "/v1/rooms/", ceilSrv.URL + "/v1/rooms/"}, Rooms: rooms, Tokens: toks, Bodies: bodies, Workers: workers})
	for target := range 2 {
		if err := ext.run(target, workers); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	// Each path runs n batches and returns an error: per batch on workers
	// goroutines in this process (perBatch), or whole by the child.
	type path struct {
		perBatch func(w int) error
		whole    func(n int) error
		counter  *batchCounter // its producer's batches
		ext      bool          // the client is the child
	}
	paths := []string{"bare", "http", "handler", "http-ext", "ceiling"}
	defs := map[string]*path{}
	rates := map[string]float64{}
	run := func(name string, p *path) {
		defs[name] = p
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			if p.whole != nil {
				if err := p.whole(b.N); err != nil {
					b.Fatal(err)
				}
			} else {
				var next atomic.Int32
				b.SetParallelism(max(1, workers/max(1, runtime.GOMAXPROCS(0))))
				b.RunParallel(func(pb *testing.PB) {
					w := int(next.Add(1)-1) % workers
					for pb.Next() {
						if err := p.perBatch(w); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			ev := float64(b.N*batch) / time.Since(start).Seconds()
			b.ReportMetric(ev, "events/s")
			rates[name] = ev
		})
	}
	run("bare", &path{counter: &bareBatches, perBatch: func(w int) error {
		recs := make([]*kgo.Record, batch)
		for i := range recs {
			recs[i] = &kgo.Record{Key: []byte(rooms[w]), Value: values[w][i]}
		}
		return bare.ProduceSync(ctx, recs...).FirstErr()
	}})
	// Keep-alive for every worker: the default keeps only 2 idle
	// connections per host, and a benchmark that reconnects measures TCP.
	tr := r.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	hc := &http.Client{Transport: tr}
	run("http", &path{counter: &ingestBatches, perBatch: func(w int) error {
		req, _ := http.NewRequest(http.MethodPost, r.url(rooms[w]), bytes.NewReader(bodies[w]))
		req.Header.Set("Authorization", "Bearer "+toks[w])
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}})
	// The handler alone, in process: the same ServeHTTP without loopback
	// TCP and the client's HTTP stack, which cost CPU on this machine but
	// not on ingest's in a deployment.
	mux := http.NewServeMux()
	r.svc.Register(mux)
	run("handler", &path{counter: &ingestBatches, perBatch: func(w int) error {
		req := httptest.NewRequest(http.MethodPost, "/v1/rooms/"+rooms[w]+"/events", bytes.NewReader(bodies[w]))
		req.Header.Set("Authorization", "Bearer "+toks[w])
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			return fmt.Errorf("status %d", rec.Code)
		}
		return nil
	}})
	run("http-ext", &path{counter: &ingestBatches, ext: true, whole: func(n int) error { return ext.run(0, n) }})
	run("ceiling", &path{counter: &ceilBatches, ext: true, whole: func(n int) error { return ext.run(1, n) }})
	if b.Failed() || len(rates) != len(paths) || rates["bare"] == 0 {
		return // a -bench filter ran only some of the paths
	}
	// The machine is shared, so one long run of each is at the mercy of
	// whatever else runs meanwhile. Short rounds that alternate the paths
	// see the same background load; the median round's ratio is the
	// number to quote.
	const rounds, perRound = 7, 600
	sums := map[string]float64{}
	cpus := map[string]float64{} // process CPU seconds, summed over rounds
	brokerCPUs := map[string]float64{}
	clientCPUs := map[string]float64{} // the child's, for the ext paths
	// The broker's CPU too, when it is one local process this test can
	// find (OVATION_KAFKA_BROKERS on this machine): the two share the
	// cores, so what both spend per event is what bounds events/s.
	broker := 0
	if len(brokers) == 1 {
		broker = listenerPID(brokers[0])
	}
	batches := map[string][2]int64{} // produce batches and records written, summed over rounds
	ratios := map[string][]float64{}
	var table strings.Builder
	for i := 0; i < rounds; i++ {
		got := map[string]float64{}
		for _, name := range paths {
			p := defs[name]
			counter := p.counter
			c0, k0, x0, n0, r0 := processCPU(), pidCPU(broker), pidCPU(ext.pid()), counter.batches.Load(), counter.records.Load()
			if p.whole != nil {
				start := time.Now()
				if err := p.whole(perRound); err != nil {
					b.Fatal(err)
				}
				got[name] = float64(perRound*batch) / time.Since(start).Seconds()
			} else {
				got[name] = timedRun(b, workers, perRound, batch, p.perBatch)
			}
			cpus[name] += processCPU() - c0
			brokerCPUs[name] += pidCPU(broker) - k0
			if p.ext {
				clientCPUs[name] += pidCPU(ext.pid()) - x0
			}
			bs := batches[name]
			batches[name] = [2]int64{bs[0] + counter.batches.Load() - n0, bs[1] + counter.records.Load() - r0}
			sums[name] += got[name]
		}
		fmt.Fprintf(&table, "  round %d  bare %7.0f", i+1, got["bare"])
		for _, p := range paths[1:] {
			ratios[p] = append(ratios[p], got[p]/got["bare"])
			fmt.Fprintf(&table, "  %s %7.0f (%.2f)", p, got[p], got[p]/got["bare"])
		}
		table.WriteByte('\n')
	}
	top := 0.0
	for _, p := range paths {
		top = max(top, sums[p])
	}
	// CPU per event is this process's (user+system): the client's and
	// the server's HTTP stacks for http, ingest's handler and producer for
	// handler, the server's HTTP stack and ingest for http-ext, the
	// server's HTTP stack and a producer for ceiling, the producer alone
	// for bare. The broker's is not counted; the child's (http-ext and
	// ceiling's client) is shown apart.
	fmt.Fprintf(&table, "  mean events/s, CPU per event of this process, of the broker and of the external client, records per produce batch:\n")
	events := float64(rounds * perRound * batch)
	both := map[string]float64{}
	for _, p := range paths {
		us, kus := 1e6*cpus[p]/events, 1e6*brokerCPUs[p]/events
		both[p] = us + kus
		perBatch := float64(batches[p][1]) / float64(max(1, batches[p][0]))
		client := "          "
		if defs[p].ext {
			client = fmt.Sprintf("ext %5.2f µs", 1e6*clientCPUs[p]/events)
		}
		fmt.Fprintf(&table, "  %-8s %9.0f  %5.2f µs  broker %5.2f µs  %s  %5.1f  %s\n", p, sums[p]/rounds, us, kus, client, perBatch, strings.Repeat("█", int(40*sums[p]/top)))
	}
	bound := map[string]float64{"bare": 1}
	if broker != 0 {
		// On a machine that ran only these two, events/s would go as the
		// inverse of what both spend per event: a ratio that other load
		// on a shared machine does not move.
		for _, p := range paths[1:] {
			bound[p] = both["bare"] / both[p]
			fmt.Fprintf(&table, "  CPU-bound ratio %s/bare = %.2f (this process + broker per event: %.2f vs %.2f µs)\n", p, bound[p], both[p], both["bare"])
		}
	}
	median := map[string]float64{"bare": 1}
	for _, p := range paths[1:] {
		rs := ratios[p]
		sort.Float64s(rs)
		median[p] = rs[len(rs)/2]
		fmt.Fprintf(&table, "  median ratio %s/bare = %.2f (min %.2f, max %.2f)\n", p, rs[len(rs)/2], rs[0], rs[len(rs)-1])
	}
	b.Logf("\nevents/s, batches of %d, %d workers, %d broker(s), %d alternating rounds of %d batches per path:\n%s",
		batch, workers, len(brokers), rounds, perRound, table.String())
	// The rounds' results once more as benchmark lines, for benchstat
	// across runs (x-bare: the median round's ratio; x-bare-cpu: the
	// CPU-bound ratio).
	for _, p := range paths {
		fmt.Printf("BenchmarkRounds/%s 1 %.0f events/s %.3f us-process %.3f us-broker %.3f x-bare %.3f x-bare-cpu\n",
			p, sums[p]/rounds, 1e6*cpus[p]/events, 1e6*brokerCPUs[p]/events, median[p], bound[p])
	}
}

// batchCounter counts the produce batches a client wrote and their
// records: how well its produce requests batch.
type batchCounter struct{ batches, records atomic.Int64 }

func (c *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.batches.Add(1)
	c.records.Add(int64(m.NumRecords))
}

// listenerPID returns the pid of the local process listening on addr
// (host:port), or 0 when it cannot be found: the listening socket's inode
// from /proc/net/tcp{,6}, then the process holding it among /proc/*/fd.
func listenerPID(addr string) int {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return 0
	}
	suffix := fmt.Sprintf(":%04X", port)
	inode := ""
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && strings.HasSuffix(fs[1], suffix) && fs[3] == "0A" {
				inode = fs[9]
			}
		}
	}
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
		for _, fd := range fds {
			if l, _ := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); l == want {
				pid, _ := strconv.Atoi(p.Name())
				return pid
			}
		}
	}
	return 0
}

// pidCPU returns the user and system CPU seconds of process pid, or 0.
func pidCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// After the command (which may hold spaces) in parentheses: state is
	// the first field, utime the 12th, stime the 13th, in 1/100 s.
	s := string(b)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fs) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fs[11], 64)
	k, _ := strconv.ParseFloat(fs[12], 64)
	return (u + k) / 100
}

// processCPU returns the user and system CPU seconds this process used.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// timedRun runs op for n batches on workers goroutines and returns events/s.
func timedRun(b *testing.B, workers, n, batch int, op func(w int) error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := op(w); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n*batch) / time.Since(start).Seconds()
}
