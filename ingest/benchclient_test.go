package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The external HTTP client of BenchmarkHTTPVsBareProducer: the same
// loopback client as its http path, run in a child process (this test
// binary run again) so that the benchmark's process is the HTTP server
// alone, as ingest is in a deployment and as a bare-producer application
// is (it has no HTTP client either).
//
// The parent writes a spec (one JSON line) to the child's stdin, then one
// command per line: "TARGET N" posts N batches to URLs[TARGET] on Workers
// connections, each worker its own room, token and body; the child
// answers each command with one line "benchclient ok" or
// "benchclient error: ...".

const envBenchClient = "OVATION_BENCH_CLIENT_CHILD"

type benchClientSpec struct {
	URLs    []string // targets; the room's name is appended
	Rooms   []string
	Tokens  []string
	Bodies  [][]byte
	Workers int
}

// TestBenchClientChild is the child's side; it runs only in a process
// started by startBenchClient.
func TestBenchClientChild(t *testing.T) {
	if os.Getenv(envBenchClient) != "1" {
		t.Skip("the external client of BenchmarkHTTPVsBareProducer, run only as its child")
	}
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var spec benchClientSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = spec.Workers
	hc := &http.Client{Transport: tr}
	post := func(url, tok string, body []byte) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
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
	}
	out := bufio.NewWriter(os.Stdout)
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return // the parent closed stdin: done
		}
		var target, n int
		if _, err := fmt.Sscan(line, &target, &n); err != nil || target < 0 || target >= len(spec.URLs) {
			fmt.Fprintf(out, "benchclient error: bad command %q\n", line)
			out.Flush()
			continue
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for w := 0; w < spec.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := spec.URLs[target] + spec.Rooms[w] + "/events"
				for next.Add(1) <= int64(n) {
					if err := post(url, spec.Tokens[w], spec.Bodies[w]); err != nil {
						firstErr.CompareAndSwap(nil, err.Error())
						return
					}
				}
			}()
		}
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			fmt.Fprintf(out, "benchclient error: %s\n", e)
		} else {
			fmt.Fprintf(out, "benchclient ok\n")
		}
		out.Flush()
	}
}

// benchClient is the parent's handle on the child.
type benchClient struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startBenchClient(b *testing.B, spec benchClientSpec) *benchClient {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchClientChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), envBenchClient+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &benchClient{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	line, _ := json.Marshal(spec)
	if _, err := in.Write(append(line, '\n')); err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *benchClient) pid() int { return c.cmd.Process.Pid }

// run posts n batches to target and waits until the child has them all
// answered.
func (c *benchClient) run(target, n int) error {
	if _, err := io.WriteString(c.in, strconv.Itoa(target)+" "+strconv.Itoa(n)+"\n"); err != nil {
		return err
	}
	for c.out.Scan() {
		l := c.out.Text()
		if l == "benchclient ok" {
			return nil
		}
		if rest, ok := strings.CutPrefix(l, "benchclient error: "); ok {
			return fmt.Errorf("external client: %s", rest)
		}
	}
	return fmt.Errorf("external client: gone (%v)", c.out.Err())
}

// ceilingHandler is the best any HTTP ingest can do on this machine: it
// reads the request's body and writes pre-built records (the events as
// ingest would write them for that room) with ingest's producer options,
// waiting for the acks as ingest does, then answers with a short body.
// No decoding, no validation, no ids, no limits: what is left is HTTP
// and the producer.
func ceilingHandler(cl *kgo.Client, rooms []string, values [][][]byte) http.Handler {
	idx := map[string]int{}
	for i, r := range rooms {
		idx[r] = i
	}
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		i, ok := idx[r.PathValue("room")]
		if !ok {
			http.Error(w, "unknown room", http.StatusNotFound)
			return
		}
		buf := bufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, err := buf.ReadFrom(r.Body)
		bufs.Put(buf)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		recs := make([]kgo.Record, len(values[i]))
		ptrs := make([]*kgo.Record, len(recs))
		key := []byte(rooms[i])
		for j := range recs {
			recs[j].Key, recs[j].Value = key, values[i][j]
			ptrs[j] = &recs[j]
		}
		if err := cl.ProduceSync(context.Background(), ptrs...).FirstErr(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"accepted":`+strconv.Itoa(len(recs))+`,"rejected":0}`)
	})
	return mux
}
