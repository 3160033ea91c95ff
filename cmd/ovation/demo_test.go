package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

func TestDemoHandlerServesTheEmbeddedPage(t *testing.T) {
	h, err := demoHandler()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, wantType, wantBody string
		status                   int
	}{
		{"/", "text/html", `src="/assets/index.js"`, 200},
		{"/index.html", "text/html", `src="/assets/index.js"`, 200},
		{"/host", "text/html", `src="/assets/host.js"`, 200},
		{"/assets/common.js", "text/javascript", "v1/stream", 200},
		{"/assets/common.css", "text/css", "--accent", 200},
		{"/nope", "", "", 404},
		{"/assets/../demo.go", "", "", 404},
		{"/v1/stream", "", "", 404},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.status {
			t.Errorf("GET %s: status %d, want %d", tc.path, rec.Code, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.wantType)
		}
		if !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.wantBody)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, cc)
		}
	}
}

// TestSimulatedViewersPublishValidEvents runs the viewers' decisions over a
// room with an open poll, a quiz and questions, and checks every event
// passes the schema, votes go to the open poll only, and nobody votes,
// answers or upvotes twice.
func TestSimulatedViewersPublishValidEvents(t *testing.T) {
	a := &simAudience{room: demoRoom}
	st := schemas.NewRoomState()
	st.Polls["poll-open"] = &schemas.Poll{Question: "q", Options: []string{"a", "b", "c"}, Votes: []int64{0, 0, 0}}
	st.Polls["poll-closed"] = &schemas.Poll{Question: "q", Options: []string{"a", "b"}, Votes: []int64{0, 0}, Closed: true}
	st.Quizzes["quiz-1"] = &schemas.Quiz{Question: "q", Options: []string{"x", "y"}, Points: 10}
	st.Questions["q1"] = &schemas.Question{User: "u", Text: "why?"}
	st.Questions["q2"] = &schemas.Question{User: "u", Text: "how?", Answered: true}

	counts := map[schemas.Type]int{}
	for viewer := range 50 {
		voted, answered, upvoted := map[string]bool{}, map[string]bool{}, map[string]bool{}
		seen := map[string]int{}
		for range 60 {
			ev := a.decide(&st, true, "Ada", voted, answered, upvoted)
			if ev == nil {
				continue
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var e schemas.Event
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			if err := e.ValidateBody(); err != nil {
				t.Fatalf("viewer %d published an invalid event %s: %v", viewer, b, err)
			}
			counts[e.Type]++
			switch body := e.Body.(type) {
			case *schemas.PollVoteData:
				if body.PollID != "poll-open" {
					t.Fatalf("voted in %s, which is closed", body.PollID)
				}
				if body.Option >= 3 {
					t.Fatalf("voted for option %d of 3", body.Option)
				}
				seen["vote"]++
			case *schemas.QuizAnswerData:
				seen["answer"]++
			case *schemas.QAUpvoteData:
				if body.QuestionID != "q1" {
					t.Fatalf("upvoted %s, which is answered", body.QuestionID)
				}
				seen["upvote"]++
			}
		}
		for k, n := range seen {
			if n > 1 {
				t.Fatalf("viewer %d did %s %d times", viewer, k, n)
			}
		}
	}
	// 50 viewers × 60 chances: each kind of action must have happened.
	for _, typ := range []schemas.Type{schemas.Reaction, schemas.ChatMessage, schemas.PollVote, schemas.QuizAnswer, schemas.QAUpvote} {
		if counts[typ] == 0 {
			t.Errorf("no %s in 3000 decisions: %v", typ, counts)
		}
	}
	if counts[schemas.PollVote] != 50 || counts[schemas.QuizAnswer] != 50 {
		t.Errorf("want every viewer to vote and answer once: %v", counts)
	}
}

// TestSimulatedViewersWithoutStateOnlyReactAndChat: before the observer
// has seen the room, viewers cannot know polls, so they only react and chat.
func TestSimulatedViewersWithoutStateOnlyReactAndChat(t *testing.T) {
	a := &simAudience{room: demoRoom}
	st := schemas.NewRoomState()
	for range 500 {
		ev := a.decide(&st, false, "Ada", map[string]bool{}, map[string]bool{}, map[string]bool{})
		if ev == nil {
			continue
		}
		if typ := ev["type"]; typ != schemas.Reaction && typ != schemas.ChatMessage {
			t.Fatalf("decided %v without knowing the room", typ)
		}
	}
}
