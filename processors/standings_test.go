package processors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// TestStandingHandler: a published ranking answers every player's place,
// a player without a score and a room not held here are told apart, bad
// input is refused, and a withdrawn partition's rooms are no longer
// answered; lookups run concurrently with publishing (run with -race).
func TestStandingHandler(t *testing.T) {
	cfg := testConfig()
	p, err := New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, cfg)
	ask := schemas.QuizAskData{QuizID: "z", Question: "q", Options: []string{"a", "b"}, Correct: 1, Points: 10}
	h.apply(ev(t, "ask", "r", "host", schemas.QuizAsk, h.now, ask))
	for i, u := range []string{"ann", "bob", "cy"} {
		h.apply(ev(t, "a-"+u, "r", u, schemas.QuizAnswer, h.now+int64(i), schemas.QuizAnswerData{QuizID: "z", Option: min(i, 1)}))
	}
	h.apply(ev(t, "rev", "r", "host", schemas.QuizReveal, h.now, schemas.QuizRevealData{QuizID: "z"}))
	h.flush()
	p.publishStandings(3, h.p.TakeStandings())
	if again := h.p.TakeStandings(); len(again) != 0 {
		t.Fatalf("taken twice: %v", again)
	}
	srv := http.NewServeMux()
	srv.Handle("GET /v1/rooms/{room}/quiz/standing", p.StandingHandler())
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // publishing again while lookups run
		defer wg.Done()
		for range 100 {
			p.publishStandings(3, map[string]*standings{"r": h.p.rooms["r"].buildStandings()})
		}
	}()
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/v1/rooms/r/quiz/standing?user=bob", 200, `{"rank":1,"score":10,"players":2}`},
		{"/v1/rooms/r/quiz/standing?user=cy", 200, `{"rank":2,"score":10,"players":2}`},
		{"/v1/rooms/r/quiz/standing?user=ann", 404, `{"error":"no_score","players":2}`},
		{"/v1/rooms/other/quiz/standing?user=bob", 404, `{"error":"not_here"}`},
		{"/v1/rooms/r/quiz/standing", 400, `"invalid_user"`},
		{"/v1/rooms/a%20b/quiz/standing?user=bob", 400, `"invalid_room"`},
	} {
		code, body := get(c.path)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %s, want %d %s", c.path, code, body, c.code, c.body)
		}
	}
	wg.Wait()
	p.mu.Lock()
	p.withdrawStandings([]int32{3})
	p.mu.Unlock()
	if code, body := get("/v1/rooms/r/quiz/standing?user=bob"); code != 404 || !strings.Contains(body, "not_here") {
		t.Fatalf("after the partition was withdrawn: %d %s", code, body)
	}
}
