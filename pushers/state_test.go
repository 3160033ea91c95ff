package pushers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

type stateResp struct {
	status int
	etag   string
	body   []byte
	snap   wireSnapshot
	err    string
}

func getState(t testing.TB, base, room, tok string, hdr map[string]string) stateResp {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/rooms/"+room+"/state", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := stateResp{status: resp.StatusCode, etag: resp.Header.Get("ETag"), body: b}
	if resp.StatusCode == 200 {
		var st schemas.RoomState
		out.snap.State = &st
		if err := json.Unmarshal(b, &out.snap); err != nil {
			t.Fatalf("state body %q: %v", b, err)
		}
	} else if len(b) > 0 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(b, &e)
		out.err = e.Error.Code
	}
	return out
}

// TestRoomStateHTTP: GET /v1/rooms/{room}/state answers a room's exact
// current state (the processors' own fold) whether the latest snapshot is
// the last frame's or several frames behind it, with ETag "epoch:seq";
// If-None-Match with it answers 304 until the room moves; tokens are
// checked like the socket's (subscribe capability in the room).
func TestRoomStateHTTP(t *testing.T) {
	brokers, topics := testKafka(t, 3)
	ts := startServer(t, brokers, topics, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/rooms/{room}/state", ts.StateHandler())
	hs := httptest.NewServer(mux)
	defer hs.Close()

	p := newProc(t, brokers, topics)
	p.snapFor["lagging"] = 5 // snapshot every 5th frame: state = snapshot + frames
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 12 {
		if err := p.tick(ctx, map[string]*schemas.Delta{"lagging": randomDelta(i, 3, 40), "fresh": randomDelta(i+100, 2, 30)}); err != nil {
			t.Fatal(err)
		}
	}
	tok := token(t, "viewer", time.Hour, map[string][]schemas.Capability{"lagging": {schemas.CapSubscribe}, "fresh": {schemas.CapSubscribe}, "nothing-yet": {schemas.CapSubscribe}})

	wait := func(room string, seq uint64) stateResp {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := getState(t, hs.URL, room, tok, nil)
			if r.status == 200 && r.snap.Seq == seq {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("room %s: %d %s at seq %d, want seq %d", room, r.status, r.body, r.snap.Seq, seq)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, room := range []string{"lagging", "fresh"} {
		r := wait(room, 12)
		epoch, seq, want := p.room(room)
		if r.snap.Type != "snapshot" || r.snap.Room != room || r.snap.Epoch != epoch || r.snap.Seq != seq {
			t.Fatalf("room %s: %+v", room, r.snap)
		}
		if got := stateJSON(*r.snap.State); got != stateJSON(want) {
			t.Fatalf("room %s: state over HTTP differs from the processors' fold:\n got %s\nwant %s", room, got, stateJSON(want))
		}
		if r.etag != `"e1:12"` {
			t.Fatalf("room %s: ETag %q", room, r.etag)
		}
		// The same position again: 304, no body.
		nm := getState(t, hs.URL, room, tok, map[string]string{"If-None-Match": r.etag})
		if nm.status != http.StatusNotModified || len(nm.body) != 0 || nm.etag != r.etag {
			t.Fatalf("room %s: If-None-Match %s answered %d %q (etag %q)", room, r.etag, nm.status, nm.body, nm.etag)
		}
	}
	// The room moves: the old ETag gets the new state.
	if err := p.tick(ctx, map[string]*schemas.Delta{"lagging": randomDelta(50, 1, 10)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := getState(t, hs.URL, "lagging", tok, map[string]string{"If-None-Match": `"e1:12"`})
		if r.status == 200 {
			_, _, want := p.room("lagging")
			if r.etag != `"e1:13"` || stateJSON(*r.snap.State) != stateJSON(want) {
				t.Fatalf("after a frame: etag %q, state %s", r.etag, stateJSON(*r.snap.State))
			}
			break
		}
		if r.status != http.StatusNotModified || time.Now().After(deadline) {
			t.Fatalf("after a frame: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A room without history: the empty state at position "":0.
	if r := getState(t, hs.URL, "nothing-yet", tok, nil); r.status != 200 || r.snap.Seq != 0 || r.etag != `":0"` || stateJSON(*r.snap.State) != stateJSON(schemas.NewRoomState()) {
		t.Fatalf("empty room: %d %s %q", r.status, r.body, r.etag)
	}

	// Refusals, each with its status and code.
	other := token(t, "viewer", time.Hour, map[string][]schemas.Capability{"elsewhere": {schemas.CapSubscribe}})
	expired := token(t, "viewer", -time.Hour, map[string][]schemas.Capability{"fresh": {schemas.CapSubscribe}})
	for _, c := range []struct {
		name, room, tok string
		status          int
		code            string
	}{
		{"no token", "fresh", "", 401, "unauthorized"},
		{"forged token", "fresh", tok[:len(tok)-4] + "AAAA", 401, "unauthorized"},
		{"expired token", "fresh", expired, 401, "unauthorized"},
		{"another room's token", "fresh", other, 403, CodeForbidden},
		{"bad room", "a%20b", tok, 400, CodeBadRequest},
		{"long room", strings.Repeat("r", 65), tok, 400, CodeBadRequest},
	} {
		r := getState(t, hs.URL, c.room, c.tok, nil)
		if r.status != c.status || r.err != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
		if strings.Contains(string(r.body), "lagging") || strings.Contains(string(r.body), `"state"`) {
			t.Errorf("%s: the refusal leaks state: %s", c.name, r.body)
		}
	}
	// ?token= works as on the socket.
	resp, err := http.Get(hs.URL + "/v1/rooms/fresh/state?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("?token=: %d", resp.StatusCode)
	}
}
