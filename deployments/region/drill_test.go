// Package region holds the regional failover drill: region.sh's two
// regions, run for real and taken down with SIGKILL.
package region

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/scripttest"
	"github.com/ovation-live/ovation/schemas"
)

// Drill shape: EU is the home of euRooms rooms (half published through
// EU's ordinary ingest, half through its "ack after mirror" ingest), US
// the home of usRooms; one viewer per room on its home region's pusher.
const (
	euRooms     = 100
	usRooms     = 10
	pubInterval = 250 * time.Millisecond // per room: 4 events/s, 440/s in all
	// drillRTO is the documented recovery time (docs/operations.md) the
	// drill must meet, from the kill to every EU room's viewer holding
	// live frames of a new epoch in US, with the takeover declared at once
	// (an operator adds detection). Measured 1.1-5.8 s.
	drillRTO = 20 * time.Second
	// failbackLimit bounds a failback, from its start to every EU viewer
	// live at home again (measured 21-31 s, most of it waits on Kafka
	// group sessions and the takeover pushers' drain).
	failbackLimit = 90 * time.Second
	// failbackDelay is how long after EU's Kafka and processors are back
	// the failback starts.
	failbackDelay = 2 * time.Second
	// mirrorLagAtKill is how far behind the EU→US mirror is when EU dies.
	mirrorLagAtKill = 3 * time.Second
)

// TestRegionalFailoverDrill runs docs/operations.md's regional runbook on
// two real Kafka clusters with MirrorMaker 2 between them: load on both
// regions, EU killed with SIGKILL (every process and its Kafka), takeover
// in US, counts compared event by event, then EU back and failback.
//
// It needs Java, Maven and kcat and takes about two minutes (nothing
// shorter shows a region lost under load and back): it runs with
// OVATION_REGION_DRILL=1, which `make test` and `make test-region` set.
// Then the mirror is re-seeded and checked.
//
// Its failback used to stall about one run in ten: EU's broker, SIGKILLed
// with a processor's transaction open, aborted it on restart without
// writing the markers, and the restarted processors waited on
// UNSTABLE_OFFSET_COMMIT for good. Processors now fence their previous
// incarnation and end such hanging transactions before they join
// (processors/fence.go); on failure the test prints EU Kafka's
// transactions and broker log.
func TestRegionalFailoverDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("regional drill: starts two Kafka clusters and MirrorMaker 2")
	}
	if os.Getenv("OVATION_REGION_DRILL") == "" {
		t.Skip("regional drill: set OVATION_REGION_DRILL=1 (make test-region)")
	}
	for _, cmd := range []string{"java", "kcat", "mvn"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("regional drill: %s not installed (deployments/test-env.sh up installs it)", cmd)
		}
	}
	root, err := scripttest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "deployments/region/region.sh")
	bin := filepath.Join(t.TempDir(), "ovation")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ovation")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := os.Getenv("OVATION_TEST_REGION_PORT_BASE")
	if base == "" {
		base = "25400"
	}
	dir := t.TempDir()
	start := time.Now()
	out, err := scripttest.Run(4*time.Minute, script, "up", dir, "--bin", bin, "--port-base", base, "--owner", strconv.Itoa(os.Getpid()))
	var diagBrokers string // EU's Kafka, once known
	t.Cleanup(func() {
		if t.Failed() && diagBrokers != "" {
			// Before `down`: what EU's Kafka holds open, and what its
			// broker logged (a failback stalled on an open transaction
			// is diagnosable from this alone).
			t.Logf("--- EU Kafka transactions and the group's offsets:\n%s", txnDiagnosis(diagBrokers, "eu-ovation-processors"))
			t.Logf("--- EU Kafka server log (warnings, transactions, groups; last 150 lines):\n%s",
				brokerLogTail(filepath.Join(dir, "eu/kafka/broker-1.log"), 150))
		}
		if _, err := scripttest.Run(time.Minute, script, "down", dir); err != nil {
			t.Errorf("region.sh down: %v", err)
		}
		if t.Failed() {
			for _, f := range []string{"us/takeover-eu-process.log", "us/takeover-eu-push.log", "eu/process.log", "us/mm2.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					t.Logf("--- tail of %s:\n%s", f, tail(b, 3000))
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	env := parseExports(out)
	diagBrokers = env["REGION_EU_KAFKA"]
	t.Logf("two regions up in %s", time.Since(start).Round(time.Millisecond))
	secret := []byte(env["REGION_SECRET"])

	d := &drill{t: t, secret: secret, acks: map[string]ackInfo{}, regionOf: map[string]string{
		env["REGION_EU_INGEST"]: "eu", env["REGION_EU_INGEST_MIRROR"]: "eu",
		env["REGION_EU_TAKEOVER_INGEST"]: "us-takeover", env["REGION_US_INGEST"]: "us",
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Load: publishers and viewers in both regions.
	var eu, us []*publisher
	for i := range euRooms {
		room := fmt.Sprintf("eu-%03d", i)
		target := env["REGION_EU_INGEST"]
		mode := "async"
		if i%2 == 1 {
			target, mode = env["REGION_EU_INGEST_MIRROR"], "mirror"
		}
		p := d.publisher(room, mode, target)
		eu = append(eu, p)
		d.viewer(ctx, room, env["REGION_EU_PUSH"], env["REGION_EU_TAKEOVER_PUSH"])
	}
	for i := range usRooms {
		room := fmt.Sprintf("us-%03d", i)
		us = append(us, d.publisher(room, "us", env["REGION_US_INGEST"]))
		d.viewer(ctx, room, env["REGION_US_PUSH"])
	}
	all := append(slices.Clone(eu), us...)
	d.run(all)
	time.Sleep(6 * time.Second)
	// The mirror into US falls behind (paused) for the last seconds before
	// the disaster: what async mirroring loses is what it had not copied.
	d.pauseAt = time.Now()
	if _, err := scripttest.Run(time.Minute, script, "pause-mirror", dir, "us"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(mirrorLagAtKill)

	// The disaster: every EU process and EU's Kafka, SIGKILL, under load.
	killAt := time.Now()
	if _, err := scripttest.Run(time.Minute, script, "kill", dir, "eu"); err != nil {
		t.Fatal(err)
	}
	d.killAt.Store(killAt.UnixNano())
	t.Logf("EU killed under load at %s", killAt.Format("15:04:05.000"))

	// Takeover in US, declared at once.
	out = runLogged(t, 3*time.Minute, script, "takeover", dir, "eu", "--no-progress")
	takeoverDone := time.Since(killAt)
	t.Logf("takeover command done %s after the kill:\n%s", takeoverDone.Round(time.Millisecond), summary(out))
	// The application hands EU's rooms the takeover URL (region list).
	for _, p := range eu {
		p.target.Store(ptr(env["REGION_EU_TAKEOVER_INGEST"]))
	}

	// Every EU room's viewer: reset to a new epoch, then live frames.
	rto := d.waitLive(t, "eu-", killAt, drillRTO)
	t.Logf("RTO (kill to every EU room live in US, takeover declared at once): %s", rto.Round(time.Millisecond))
	time.Sleep(4 * time.Second) // publishing continues in US
	d.stop(all)

	// Counts after the takeover, event by event.
	mirrored, _ := readEventIDs(t, env["REGION_US_KAFKA"], "eu.ovation.events")
	lost := map[string]int{}
	var lostAge time.Duration
	for id, a := range d.acks {
		if a.region != "eu" || mirrored[id] != "" {
			continue
		}
		lost[a.mode]++
		lostAge = max(lostAge, killAt.Sub(a.at))
	}
	want := map[string]int{} // room → distinct events acknowledged and in the takeover's log
	for id, room := range mirrored {
		if _, ok := d.acks[id]; !ok {
			t.Errorf("event %s is in eu.ovation.events but no publisher saw it acknowledged", id)
		}
		want[room]++
	}
	for id, a := range d.acks {
		if a.region == "us-takeover" && mirrored[id] == "" {
			t.Errorf("event %s was acknowledged by the takeover but is not in its log", id)
		}
	}
	got := waitCounts(t, env["REGION_US_KAFKA"], "eu.ovation.room-snapshots", want, 30*time.Second)
	for _, p := range eu {
		if got[p.room] != want[p.room] {
			t.Errorf("after takeover, room %s counts %d reactions; %d events acknowledged and mirrored or acknowledged by the takeover", p.room, got[p.room], want[p.room])
		}
	}
	nEU, nTO := d.count("eu"), d.count("us-takeover")
	t.Logf("after takeover: %d events acknowledged by EU before the kill (%d async, %d after mirror), %d by the takeover; lost (acknowledged, not mirrored): %d async, %d after mirror; oldest lost event acknowledged %s before the kill (RPO)",
		nEU, d.countMode("eu", "async"), d.countMode("eu", "mirror"), nTO, lost["async"], lost["mirror"], lostAge.Round(time.Millisecond))
	if lost["async"] == 0 {
		t.Errorf("no async event lost although the mirror was %s behind at the kill: the drill measures nothing", mirrorLagAtKill)
	}
	if lost["mirror"] != 0 {
		t.Errorf("%d events acknowledged in ack-after-mirror mode were lost", lost["mirror"])
	}
	if nTO == 0 {
		t.Error("no event was acknowledged by the takeover: publishing did not continue in US")
	}
	d.reportLatency(t)
	d.checkViewers(t, killAt)

	// Failback: EU's Kafka returns with its data, the takeover stops taking
	// writes, the takeover's events are copied home, EU rebuilds.
	if _, err := scripttest.Run(2*time.Minute, script, "restart-kafka", dir, "eu"); err != nil {
		t.Fatal(err)
	}
	homeBack := time.Now()
	d.run(all) // publishing goes on in US while EU comes back
	// EU's processors, started with its Kafka, fence the transaction the
	// killed ones left open and take their static members' places in the
	// group at once (processors/fence.go): the operator fails back right
	// away.
	time.Sleep(failbackDelay)
	failbackAt := time.Now()
	out = runLogged(t, 3*time.Minute, script, "failback", dir, "eu", "--no-progress")
	t.Logf("failback done in %s:\n%s", time.Since(failbackAt).Round(time.Millisecond), summary(out))
	for _, p := range eu {
		p.target.Store(ptr(env["REGION_EU_INGEST"]))
	}
	fbRTO := d.waitLive(t, "eu-", failbackAt, failbackLimit)
	t.Logf("failback: every EU room live at home again %s after the failback began, %s after EU's Kafka was back",
		fbRTO.Round(time.Millisecond), failbackAt.Add(fbRTO).Sub(homeBack).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	d.stop(all)

	// Every event ever acknowledged, once; lost ones come back with EU.
	wantHome := map[string]int{}
	for _, a := range d.acks {
		if strings.HasPrefix(a.room, "eu-") {
			wantHome[a.room]++
		}
	}
	got = waitCounts(t, env["REGION_EU_KAFKA"], "ovation.room-snapshots", wantHome, 30*time.Second)
	for _, p := range eu {
		if got[p.room] != wantHome[p.room] {
			t.Errorf("after failback, room %s counts %d reactions; %d distinct events were acknowledged", p.room, got[p.room], wantHome[p.room])
		}
	}
	t.Logf("after failback: %d events acknowledged in all for EU's rooms, each counted once at home (the %d lost to the takeover are back)", sum(wantHome), lost["async"]+lost["mirror"])
	gotUS := waitCounts(t, env["REGION_US_KAFKA"], "ovation.room-snapshots", d.perRoom("us-"), 30*time.Second)
	for _, p := range us {
		if gotUS[p.room] != d.perRoom("us-")[p.room] {
			t.Errorf("US room %s counts %d, want %d", p.room, gotUS[p.room], d.perRoom("us-")[p.room])
		}
	}
	d.checkViewers(t, failbackAt)

	// Re-seed the mirror into US, so that EU can be taken over again: the
	// mirror then holds exactly EU's events, once each, and EU's "ack after
	// mirror" ingest acknowledges again.
	reseedAt := time.Now()
	runLogged(t, 3*time.Minute, script, "reseed", dir, "eu")
	home, nHome := readEventIDs(t, env["REGION_EU_KAFKA"], "ovation.events")
	var mirror map[string]string
	var nMirror int
	for deadline := time.Now().Add(90 * time.Second); ; {
		mirror, nMirror = readEventIDs(t, env["REGION_US_KAFKA"], "eu.ovation.events")
		if nMirror >= nHome || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if nMirror != nHome || len(mirror) != len(home) {
		t.Errorf("re-seeded mirror holds %d reactions (%d distinct), EU %d (%d distinct)", nMirror, len(mirror), nHome, len(home))
	}
	for id := range home {
		if mirror[id] == "" {
			t.Errorf("event %s is in EU but not in the re-seeded mirror", id)
			break
		}
	}
	t.Logf("mirror re-seeded in %s: %d reactions copied afresh", time.Since(reseedAt).Round(time.Millisecond), nMirror)
	p := d.publisher("eu-000", "mirror", env["REGION_EU_INGEST_MIRROR"])
	for i := range 5 {
		d.publishUntilAcked(p, fmt.Sprintf("eu-000-after-reseed-%d", i))
	}
	mirror, _ = readEventIDs(t, env["REGION_US_KAFKA"], "eu.ovation.events")
	for i := range 5 {
		if id := fmt.Sprintf("eu-000-after-reseed-%d", i); mirror[id] == "" {
			t.Errorf("%s was acknowledged after mirror but is not in the mirror", id)
		}
	}
	t.Logf("drill took %s", time.Since(start).Round(time.Second))
}

type ackInfo struct {
	room, mode, region string
	at                 time.Time
	latency            time.Duration
}

type drill struct {
	t      *testing.T
	secret []byte
	killAt atomic.Int64
	// pauseAt is when the mirror was paused: latencies are measured before.
	pauseAt time.Time

	regionOf map[string]string // ingest URL → "eu", "us" or "us-takeover"

	mu      sync.Mutex
	acks    map[string]ackInfo // event id → where and when it was acknowledged
	viewers []*viewer
	wg      sync.WaitGroup
}

func (d *drill) token(sub, room string) string {
	tok, err := auth.Sign(d.secret, "", &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Rooms:            map[string][]schemas.Capability{room: {schemas.CapPublish}},
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

func (d *drill) count(region string) int {
	n := 0
	for _, a := range d.acks {
		if a.region == region {
			n++
		}
	}
	return n
}

func (d *drill) countMode(region, mode string) int {
	n := 0
	for _, a := range d.acks {
		if a.region == region && a.mode == mode {
			n++
		}
	}
	return n
}

func (d *drill) perRoom(prefix string) map[string]int {
	m := map[string]int{}
	for _, a := range d.acks {
		if strings.HasPrefix(a.room, prefix) {
			m[a.room]++
		}
	}
	return m
}

// publisher publishes one reaction at a time into its room, retrying an
// event with the same id until some region acknowledges it, as the SDK
// does with its queued publishes.
type publisher struct {
	room, mode, tok string
	target          atomic.Pointer[string]
	n               int
	stopping        atomic.Bool
}

func ptr(s string) *string { return &s }

func (d *drill) publisher(room, mode, target string) *publisher {
	p := &publisher{room: room, mode: mode, tok: d.token("u-"+room, room)}
	p.target.Store(&target)
	return p
}

var httpc = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}

func (d *drill) run(ps []*publisher) {
	for _, p := range ps {
		p.stopping.Store(false)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for !p.stopping.Load() {
				id := fmt.Sprintf("%s-%d", p.room, p.n)
				p.n++
				d.publishUntilAcked(p, id)
				time.Sleep(pubInterval)
			}
		}()
	}
}

// stop lets every publisher finish (have acknowledged) its current event.
func (d *drill) stop(ps []*publisher) {
	for _, p := range ps {
		p.stopping.Store(true)
	}
	d.wg.Wait()
}

func (d *drill) publishUntilAcked(p *publisher, id string) {
	body := []byte(`{"id":"` + id + `","type":"reaction","data":{"emoji":"👏"}}`)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		target := *p.target.Load()
		req, _ := http.NewRequest(http.MethodPost, target+"/v1/rooms/"+p.room+"/events", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+p.tok)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := httpc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				region := d.regionOf[target]
				d.mu.Lock()
				d.acks[id] = ackInfo{room: p.room, mode: p.mode, region: region, at: time.Now(), latency: time.Since(t0)}
				d.mu.Unlock()
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Errorf("event %s of room %s not acknowledged in 3 minutes", id, p.room)
}

func (d *drill) reportLatency(t *testing.T) {
	lat := map[string][]time.Duration{}
	for _, a := range d.acks {
		if a.region == "eu" && a.at.Before(d.pauseAt) {
			lat[a.mode] = append(lat[a.mode], a.latency)
		}
	}
	for _, mode := range []string{"async", "mirror"} {
		l := lat[mode]
		if len(l) == 0 {
			t.Errorf("no %s publish acknowledged before the kill", mode)
			continue
		}
		slices.Sort(l)
		q := func(f float64) time.Duration { return l[min(len(l)-1, int(f*float64(len(l))))] }
		t.Logf("EU publish latency, ack %s: p50 %s p99 %s max %s (%d events, before the mirror was paused)", map[string]string{"async": "after local commit", "mirror": "after mirror"}[mode],
			q(0.5).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), l[len(l)-1].Round(100*time.Microsecond), len(l))
	}
}

// viewer is one WebSocket subscriber that keeps its room's position and
// moves between region URLs the way the SDK does: after two failed
// connects in a row it tries the next URL.
type viewer struct {
	room string
	urls []string
	tok  string

	mu       sync.Mutex
	epoch    string
	seq      int64
	history  []epochSeen // every epoch it was reset into, in order
	problems []string
}

type epochSeen struct {
	epoch          string
	at, firstFrame time.Time
}

func (d *drill) viewer(ctx context.Context, room string, urls ...string) {
	v := &viewer{room: room, urls: urls, tok: d.token("v-"+room, room)}
	d.viewers = append(d.viewers, v)
	go v.run(ctx)
}

func (v *viewer) run(ctx context.Context) {
	idx, fails := 0, 0
	for ctx.Err() == nil {
		url := v.urls[idx] + "?token=" + v.tok
		dl := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
		conn, _, err := dl.DialContext(ctx, url, nil)
		if err != nil {
			fails++
			if fails >= 2 {
				idx, fails = (idx+1)%len(v.urls), 0
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		fails = 0
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		v.session(conn)
		stop()
		conn.Close()
	}
}

type msg struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Room       string          `json:"room"`
	Epoch      string          `json:"epoch"`
	Seq        int64           `json:"seq"`
	FromSeq    int64           `json:"from_seq"`
	Recovered  bool            `json:"recovered"`
	Code       string          `json:"code"`
	RetryAfter int             `json:"retry_after"`
	State      json.RawMessage `json:"state"`
}

func (v *viewer) subscribe(conn *websocket.Conn) {
	v.mu.Lock()
	m := map[string]any{"op": "subscribe", "id": "s", "room": v.room}
	if v.epoch != "" {
		m["epoch"], m["seq"] = v.epoch, v.seq
	}
	v.mu.Unlock()
	b, _ := json.Marshal(m)
	conn.WriteMessage(websocket.TextMessage, b)
}

// session reads one connection until it fails, applying the client rule
// of docs/protocol.md §2 and noting anything that breaks it.
func (v *viewer) session(conn *websocket.Conn) {
	v.subscribe(conn)
	for {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, b, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			v.problem("undecodable message %q", b)
			return
		}
		v.mu.Lock()
		switch m.Type {
		case "error":
			if m.ID == "s" {
				v.mu.Unlock()
				time.Sleep(300 * time.Millisecond)
				v.subscribe(conn)
				continue
			}
		case "snapshot":
			if m.Room == v.room && m.Epoch != v.epoch {
				v.history = append(v.history, epochSeen{epoch: m.Epoch, at: time.Now()})
			}
			v.epoch, v.seq = m.Epoch, m.Seq
		case "frame":
			if m.Room != v.room {
				break
			}
			from := m.FromSeq
			if from == 0 {
				from = m.Seq
			}
			switch {
			case m.Epoch == v.epoch && from == v.seq+1, v.epoch == "" && v.seq == 0 && from == 1:
				if m.Epoch != v.epoch {
					v.history = append(v.history, epochSeen{epoch: m.Epoch, at: time.Now()})
				}
				v.epoch, v.seq = m.Epoch, m.Seq
				if h := &v.history[len(v.history)-1]; h.firstFrame.IsZero() {
					h.firstFrame = time.Now()
				}
			case m.Epoch == v.epoch && m.Seq <= v.seq:
				// A duplicate around a resync: ignored by the rule.
			default:
				v.problem("gap: frame %s/%d (from %d) at position %s/%d", m.Epoch, m.Seq, from, v.epoch, v.seq)
				v.mu.Unlock()
				v.subscribe(conn)
				continue
			}
		}
		v.mu.Unlock()
	}
}

func (v *viewer) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// waitLive waits until every viewer of rooms with prefix has had live
// frames in an epoch it was reset into after since, and returns the time
// from since to the last of them.
func (d *drill) waitLive(t *testing.T, prefix string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	deadline := since.Add(limit)
	for {
		var worst time.Duration
		var waiting []string
		for _, v := range d.viewers {
			if !strings.HasPrefix(v.room, prefix) {
				continue
			}
			v.mu.Lock()
			ok := false
			for _, h := range v.history {
				if h.at.After(since) && !h.firstFrame.IsZero() {
					ok = true
					worst = max(worst, h.firstFrame.Sub(since))
					break
				}
			}
			v.mu.Unlock()
			if !ok {
				waiting = append(waiting, v.room)
			}
		}
		if len(waiting) == 0 {
			return worst
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d viewer(s) not live in a new epoch %s after %s: %v", len(waiting), limit, since.Format("15:04:05.000"), waiting[:min(10, len(waiting))])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkViewers: no gap ever; every EU viewer was reset into a new epoch
// after since; no US viewer was (its region never went away).
func (d *drill) checkViewers(t *testing.T, since time.Time) {
	t.Helper()
	for _, v := range d.viewers {
		v.mu.Lock()
		for _, p := range v.problems {
			t.Errorf("viewer of %s: %s", v.room, p)
		}
		v.problems = nil
		resets := 0
		for _, h := range v.history {
			if h.at.After(since) {
				resets++
			}
		}
		if strings.HasPrefix(v.room, "us-") && resets > 0 {
			t.Errorf("viewer of US room %s was reset %d time(s) during EU's failover", v.room, resets)
		}
		if strings.HasPrefix(v.room, "eu-") && resets == 0 {
			t.Errorf("viewer of EU room %s was never reset into a new epoch", v.room)
		}
		v.mu.Unlock()
	}
}

// readEventIDs reads topic on brokers to its end and returns event id →
// room for every reaction in it (control records skipped), and how many
// reaction records it holds (duplicates included).
func readEventIDs(t *testing.T, brokers, topic string) (ids map[string]string, records int) {
	t.Helper()
	out := map[string]string{}
	readTopic(t, brokers, topic, func(r *kgo.Record) {
		for _, h := range r.Headers {
			if h.Key == "ovation-control" {
				return
			}
		}
		var ev struct{ ID, Room, Type string }
		if json.Unmarshal(r.Value, &ev) == nil && ev.Type == "reaction" {
			out[ev.ID] = ev.Room
			records++
		}
	})
	return out, records
}

// waitCounts reads the latest snapshot of every room until each room of
// want counts as many reactions (or timeout), and returns the counts.
func waitCounts(t *testing.T, brokers, topic string, want map[string]int, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]int{}
		readTopic(t, brokers, topic, func(r *kgo.Record) {
			s, err := schemas.UnmarshalSnapshot(r.Value)
			if err == nil {
				got[s.Room] = int(s.State.Totals.Reactions)
			}
		})
		same := true
		for room, n := range want {
			if got[room] != n {
				same = false
			}
		}
		if same || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Second)
	}
}

func readTopic(t *testing.T, brokers, topic string, fn func(*kgo.Record)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(adm).ListCommittedOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		return
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords()) // so a partition ending in a commit marker is seen to end
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (partitions left %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if e, ok := left[r.Partition]; ok && r.Offset < e {
				if !r.Attrs.IsControl() {
					fn(r)
				}
				if r.Offset+1 >= e {
					delete(left, r.Partition)
				}
			}
		})
	}
}

// runLogged runs script with args and returns its stdout; its progress
// lines (stderr) are logged with the time each arrived, so the log shows
// where a takeover or failback spends its time.
func runLogged(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	done := make(chan struct{})
	var lines []string
	go func() {
		defer close(done)
		b := make([]byte, 0, 4096)
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			b = append(b, buf[:n]...)
			for {
				i := strings.IndexByte(string(b), '\n')
				if i < 0 {
					break
				}
				if l := strings.TrimSpace(string(b[:i])); l != "" && !strings.HasPrefix(l, "room ") {
					lines = append(lines, fmt.Sprintf("+%5.1fs %s", time.Since(start).Seconds(), l))
				}
				b = b[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	t.Logf("%s %s:\n%s", filepath.Base(script), strings.Join(args[:1], " "), strings.Join(lines, "\n"))
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(script), strings.Join(args, " "), err, stdout.String())
	}
	return stdout.String()
}

// summary drops the per-room table from a takeover's or failback's output.
func summary(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "eu-") && !strings.HasPrefix(l, "ROOM") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func parseExports(out string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			env[k] = v
		}
	}
	return env
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
