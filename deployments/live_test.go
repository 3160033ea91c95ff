package deployments

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"
)

// proc is an ovation process the test started; its output goes to a file
// that is printed when something about it fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startOvation starts `ovation args...` with env (on top of the test's
// environment less its OVATION_* variables) and stops it, SIGTERM first,
// when the test ends.
func startOvation(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(ovationBinary(t), args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start ovation %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for a clean exit, killing after 40 s (the
// binary bounds its own shutdown to 30 s).
func (p *proc) stop(t *testing.T) {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("ovation %s did not exit within 40 s of SIGTERM\n%s", p.name, p.tail())
		}
	}
	if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte("WARNING: DATA RACE")) {
		i := bytes.Index(b, []byte("WARNING: DATA RACE"))
		t.Errorf("ovation %s (built with -race) reported a data race:\n%s", p.name, b[i:min(len(b), i+6000)])
	}
}

// tail is the end of the process's output.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return fmt.Sprintf("--- ovation %s output (end) ---\n%s", p.name, b)
}

// waitReady polls base/readyz until it answers 200.
func (p *proc) waitReady(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("ovation %s exited (%v) before it was ready\n%s", p.name, p.err, p.tail())
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ovation %s not ready at %s/readyz after %v (last: %s)\n%s", p.name, base, timeout, last, p.tail())
}

// families is a scrape: metric family name → type.
type families map[string]string

// scrape reads base/metrics in the Prometheus text format.
func scrape(base string) (families, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	fams := families{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	return fams, sc.Err()
}

// has reports whether a query of name selects series of fams: the family
// itself, or a histogram's _bucket/_sum/_count (a summary's _sum/_count).
// A histogram queried by its bare name selects nothing.
func (fams families) has(name string) bool {
	if typ, ok := fams[name]; ok {
		return typ != "histogram" && typ != "summary"
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if typ := fams[base]; typ == "histogram" || (suf != "_bucket" && typ == "summary") {
				return true
			}
		}
	}
	return false
}

// family reports whether fams holds the family name (not a query).
func (fams families) family(name string) bool {
	_, ok := fams[name]
	return ok
}

// waitFor scrapes base until present(name) holds for every name in want,
// or timeout passes, and returns the last scrape and what is still
// missing.
func waitFor(base string, want []string, present func(families, string) bool, timeout time.Duration) (families, []string) {
	deadline := time.Now().Add(timeout)
	for {
		fams, err := scrape(base)
		var missing []string
		for _, n := range want {
			if err != nil || !present(fams, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return fams, missing
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// publish POSTs events to base/v1/rooms/room/events and returns the status.
func publish(t *testing.T, base, room, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/rooms/"+room+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// publishTraffic sends what makes the lazily created series exist: events
// of several types, a duplicate id (ignored by the processors) and an
// invalid event (rejected by ingest).
func publishTraffic(t *testing.T, base, room, token string) {
	t.Helper()
	ok := `[{"id":"c-1","type":"chat.message","data":{"text":"hello"}},
		{"id":"r-1","type":"reaction","data":{"emoji":"🔥"}},
		{"id":"p-1","type":"poll.open","data":{"poll_id":"p1","question":"?","options":["a","b"]}},
		{"id":"v-1","type":"poll.vote","data":{"poll_id":"p1","option":1}}]`
	if code := publish(t, base, room, token, ok); code != http.StatusOK {
		t.Fatalf("publish 4 valid events: status %d; want 200", code)
	}
	// The same id again: ingest publishes it, the processors ignore it.
	if code := publish(t, base, room, token, `{"id":"r-1","type":"reaction","data":{"emoji":"🔥"}}`); code != http.StatusOK {
		t.Fatalf("publish a retried event: status %d; want 200", code)
	}
	if code := publish(t, base, room, token, `{"id":"x-1","type":"no.such.type","data":{}}`); code != http.StatusBadRequest {
		t.Fatalf("publish an invalid event: status %d; want 400", code)
	}
}

// produceGarbage writes a record no consumer can decode into each topic,
// as a broken direct producer would: the processors dead-letter it, the
// sink skips it, the pushers count a bad record.
func produceGarbage(t *testing.T, brokers []string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		r := &kgo.Record{Topic: topic, Key: []byte("r1"), Value: []byte("{not json")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce a bad record to %s: %v", topic, err)
		}
	}
}

// viewer is a WebSocket client of a pusher.
type viewer struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialViewer(t *testing.T, wsURL string) *viewer {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(wsURL, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v %s", wsURL, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &viewer{t, conn}
}

func (v *viewer) send(msg string) {
	v.t.Helper()
	if err := v.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		v.t.Fatalf("websocket write: %v", err)
	}
}

// until reads messages until one has type typ (and, when id is set, that
// id) and returns it.
func (v *viewer) until(typ, id string) map[string]any {
	v.t.Helper()
	v.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer v.conn.SetReadDeadline(time.Time{})
	for {
		_, b, err := v.conn.ReadMessage()
		if err != nil {
			v.t.Fatalf("websocket: waiting for %q: %v", typ, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			v.t.Fatalf("websocket: %v in %s", err, b)
		}
		if m["type"] == typ && (id == "" || m["id"] == id) {
			return m
		}
		if m["type"] == "error" && m["id"] == id {
			v.t.Fatalf("websocket: waiting for %q got %s", typ, b)
		}
	}
}

// viewerTraffic subscribes to room, resumes from the position it got
// (a resume outcome), and sends an unknown op (an error reply by code).
func viewerTraffic(t *testing.T, v *viewer, room string) {
	t.Helper()
	v.until("welcome", "")
	v.send(`{"op":"subscribe","id":"s1","room":"` + room + `"}`)
	sub := v.until("subscribed", "s1")
	epoch, _ := sub["epoch"].(string)
	seq, _ := sub["seq"].(float64)
	pos, _ := json.Marshal(map[string]any{"op": "subscribe", "id": "s2", "room": room, "epoch": epoch, "seq": int64(seq)})
	v.send(string(pos))
	v.until("subscribed", "s2")
	v.send(`{"op":"no-such-op","id":"e1"}`)
	v.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, b, err := v.conn.ReadMessage()
		if err != nil {
			t.Fatalf("websocket: waiting for the error reply: %v", err)
		}
		if bytes.Contains(b, []byte(`"error"`)) {
			break
		}
	}
	v.conn.SetReadDeadline(time.Time{})
}

// TestDashboardAndAlertMetricsExported starts `ovation dev` on private
// ports, makes a little traffic of every kind (publishes, a rejected
// event, a retried id, a record no one can decode, a WebSocket subscribe
// and resume), scrapes /metrics, and checks that every metric the Grafana
// dashboard and the alert rules query is exported.
//
// The analytics sink runs in dev only with a ClickHouse: with
// OVATION_CLICKHOUSE_ADDR set its metrics are checked too; without, they
// are listed as unchecked.
func TestDashboardAndAlertMetricsExported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ovation dev")
	}
	queries := append(dashboardQueries(t), ruleQueries(t)...)
	where := map[string][]string{}
	for _, q := range queries {
		for _, m := range metricNames(q.expr) {
			where[m] = append(where[m], q.where)
		}
	}
	chAddr := os.Getenv("OVATION_CLICKHOUSE_ADDR")
	var want, unchecked []string
	for _, m := range keys(where) {
		if chAddr == "" && strings.HasPrefix(m, "ovation_analytics_") {
			unchecked = append(unchecked, m)
			continue
		}
		want = append(want, m)
	}
	if chAddr == "" {
		// Port 1 answers nothing: dev runs without analytics.
		chAddr = "127.0.0.1:1"
	}

	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	// Topic names unique to this run: the sink keys its resume positions
	// in ClickHouse by topic, so a rerun must not look like old data.
	prefix := "depl-" + randomSuffix()
	topicEnv := []string{
		"OVATION_TOPIC_EVENTS=" + prefix + ".events", "OVATION_TOPIC_FRAMES=" + prefix + ".frames",
		"OVATION_TOPIC_SNAPSHOTS=" + prefix + ".snapshots", "OVATION_TOPIC_CHANGELOG=" + prefix + ".changelog",
		"OVATION_TOPIC_DLQ=" + prefix + ".dlq",
	}
	dev := startOvation(t, "dev", topicEnv, "dev", "--http-addr", httpAddr, "--kafka-listen", kafkaAddr,
		"--data-dir", t.TempDir(), "--clickhouse-addr", chAddr, "--partitions", "2")
	dev.waitReady(t, base, 60*time.Second)

	publishTraffic(t, base, "r1", "")
	produceGarbage(t, []string{kafkaAddr}, prefix+".events", prefix+".frames")
	// Subscribe once the processors have written the room's first frame,
	// so the resume has a position to resume from.
	if _, missing := waitFor(base, []string{"ovation_processor_frames_written_total"}, families.family, 20*time.Second); len(missing) > 0 {
		t.Fatalf("no processor metrics after 20 s\n%s", dev.tail())
	}
	viewerTraffic(t, dialViewer(t, "ws://"+httpAddr+"/v1/stream"), "r1")

	fams, missing := waitFor(base, want, families.has, 30*time.Second)
	for _, m := range missing {
		typ := ""
		if fams[m] != "" {
			typ = " (exported as a " + fams[m] + ": query its _bucket, _sum or _count)"
		}
		t.Errorf("%s is not exported by `ovation dev`%s; queried by %s", m, typ, strings.Join(where[m], "; "))
	}
	labels := checkLabelMatchers(t, scrapeLabels(t, base), queries)
	t.Logf("checked %d metric names and %d label values from %d queries against a scrape of %d families", len(want), labels, len(queries), len(fams))
	if len(unchecked) > 0 {
		t.Logf("not checked (dev runs the sink only with a ClickHouse; set OVATION_CLICKHOUSE_ADDR): %v", unchecked)
	}
	if t.Failed() {
		t.Log(dev.tail())
	}
}

// freeAddr returns a loopback address with a port nobody listens on now,
// so a test's servers never collide with another run on the same machine.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
