package pushers

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// sseReader is a test SSE client that folds the rooms' states by the
// protocol's rules, as the SDK does.
type sseReader struct {
	t      *testing.T
	mu     sync.Mutex
	lastID string
	rooms  map[string]*procRoom
	types  map[string]int
	closes []int
	gaps   int
}

func (c *sseReader) run(ctx context.Context, base, query, lastID string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/sse?"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return &httpStatusError{resp.StatusCode}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var event, id, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			c.dispatch(event, id, data)
			event, id, data = "", "", ""
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data += line[6:]
		}
	}
	return sc.Err()
}

type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string { return http.StatusText(e.status) }

func (c *sseReader) dispatch(event, id, data string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id != "" {
		c.lastID = id
	}
	if event == "close" {
		var m struct{ Code int }
		json.Unmarshal([]byte(data), &m)
		c.closes = append(c.closes, m.Code)
		return
	}
	if data == "" {
		return
	}
	var m struct {
		Type      string             `json:"type"`
		Room      string             `json:"room"`
		Epoch     string             `json:"epoch"`
		Seq       uint64             `json:"seq"`
		FromSeq   uint64             `json:"from_seq"`
		Recovered bool               `json:"recovered"`
		State     *schemas.RoomState `json:"state"`
		Delta     *schemas.Delta     `json:"delta"`
	}
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		c.t.Errorf("SSE data %q: %v", data, err)
		return
	}
	key := m.Type
	if m.Type == "subscribed" && m.Recovered {
		key = "subscribed-recovered"
	}
	c.types[key]++
	r := c.rooms[m.Room]
	switch m.Type {
	case "snapshot":
		c.rooms[m.Room] = &procRoom{epoch: m.Epoch, seq: m.Seq, state: *m.State}
	case "frame":
		from := m.FromSeq
		if from == 0 {
			from = m.Seq
		}
		if r == nil || m.Epoch != r.epoch || from != r.seq+1 {
			c.gaps++
			return
		}
		r.state.Apply(m.Delta)
		r.seq = m.Seq
	}
}

func (c *sseReader) at(room string) (uint64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rooms[room]
	if r == nil {
		return 0, ""
	}
	return r.seq, stateJSON(r.state)
}

// TestSSEResume: GET /v1/sse streams two rooms' snapshots and frames with
// an id holding both positions; when its pusher dies mid-stream, a new
// request to another pusher with Last-Event-ID (what EventSource sends)
// resumes both rooms (recovered, no snapshot) and ends exactly at the
// processor's state with no gap. Bad requests are refused with 400, and a
// bad token gets the WebSocket's close code as an event.
func TestSSEResume(t *testing.T) {
	brokers, topics := testKafka(t, 2)
	a := startServer(t, brokers, topics, nil)
	b := startServer(t, brokers, topics, nil)
	serve := func(s *testServer) *httptest.Server {
		mux := http.NewServeMux()
		mux.Handle("GET /v1/sse", s.SSEHandler())
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)
		return hs
	}
	ha, hb := serve(a), serve(b)
	p := newProc(t, brokers, topics)
	p.snapFor["r2"] = 4
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := func(i int) {
		t.Helper()
		if err := p.tick(ctx, map[string]*schemas.Delta{"r1": randomDelta(i, 2, 30), "r2": randomDelta(i+500, 1, 20)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		tick(i)
	}
	tok := token(t, "viewer", time.Hour, map[string][]schemas.Capability{"r*": {schemas.CapSubscribe}})
	query := "rooms=r1,r2&token=" + url.QueryEscape(tok)
	c := &sseReader{t: t, rooms: map[string]*procRoom{}, types: map[string]int{}}
	exact := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for _, room := range []string{"r1", "r2"} {
			_, seq, want := p.room(room)
			for {
				got, st := c.at(room)
				if got == seq && st == stateJSON(want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: room %s at seq %d, want %d (state equal: %v); events %v", what, room, got, seq, st == stateJSON(want), c.types)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	actx, acancel := context.WithCancel(ctx)
	aDone := make(chan error, 1)
	go func() { aDone <- c.run(actx, ha.URL, query, "") }()
	exact("first stream")
	for i := range 5 {
		tick(10 + i)
	}
	exact("live frames")
	if c.types["snapshot"] != 2 || c.types["subscribed"] != 2 {
		t.Fatalf("first stream: %v", c.types)
	}
	// The pusher dies; frames keep coming.
	a.cancel()
	<-a.done
	a.Close()
	acancel()
	<-aDone
	for i := range 6 {
		tick(20 + i)
	}
	c.mu.Lock()
	last := c.lastID
	c.mu.Unlock()
	if !strings.Contains(last, "r1=") || !strings.Contains(last, "r2=") {
		t.Fatalf("event id %q does not hold both rooms' positions", last)
	}
	go c.run(ctx, hb.URL, query, last)
	exact("resumed on the other pusher")
	c.mu.Lock()
	if c.types["subscribed-recovered"] != 2 || c.types["snapshot"] != 2 || c.gaps != 0 {
		t.Fatalf("resume: %v, %d gaps", c.types, c.gaps)
	}
	c.mu.Unlock()

	// Refusals.
	for _, bad := range []string{"", "rooms=", "rooms=a%20b", "rooms=r1&positions=r1%3Dx", "rooms=r1&positions=r1%3D%25zz"} {
		resp, err := http.Get(hb.URL + "/v1/sse?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%q: %d, want 400", bad, resp.StatusCode)
		}
	}
	bc := &sseReader{t: t, rooms: map[string]*procRoom{}, types: map[string]int{}}
	if err := bc.run(ctx, hb.URL, "rooms=r1&token=forged", ""); err != nil {
		t.Fatal(err)
	}
	if len(bc.closes) != 1 || bc.closes[0] != CloseUnauthorized {
		t.Fatalf("forged token: closes %v, events %v", bc.closes, bc.types)
	}
}

// FuzzSSEPositions: the positions decoder (Last-Event-ID, ?positions=)
// never panics, accepts only valid room ids, and what it accepts encodes
// back (sseID) to an id that decodes to the same positions.
func FuzzSSEPositions(f *testing.F) {
	for _, s := range []string{"show-42=e7+1203&lobby=+0", "r1=0193f6a2+5", "a=%20+1", "r1=x", "r1=e+1&r1=e+2", "%zz", "", "=+1", "r:1=e%2B1+18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := ssePositions(s)
		if err != nil {
			return
		}
		m := map[string]*roomPos{}
		for r, p := range pos {
			if schemas.CheckRoom(r) != nil {
				t.Fatalf("accepted room %q", r)
			}
			p.known = true
			m[r] = &p
		}
		back, err := ssePositions(sseID(m))
		if err != nil {
			t.Fatalf("%q: its id %q does not decode: %v", s, sseID(m), err)
		}
		if len(back) != len(pos) {
			t.Fatalf("%q: %d rooms, back %d", s, len(pos), len(back))
		}
		for r, p := range pos {
			if b := back[r]; b.epoch != p.epoch || b.seq != p.seq {
				t.Fatalf("%q: room %s %+v back as %+v", s, r, p, b)
			}
		}
	})
}
