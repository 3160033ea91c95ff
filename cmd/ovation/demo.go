package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/pushers/client"
	"github.com/ovation-live/ovation/schemas"
)

// demoAssets is the built demo page (web/demo, built by `npm run build` in
// web/ into this folder). The build output is committed so that `go build`
// on a fresh clone needs no Node, and `ovation dev` needs none at run time.
//
//go:embed all:demoassets
var demoAssets embed.FS

// demoRoom is the room the demo page opens by default and the simulated
// audience joins.
const demoRoom = "demo"

// devDemo serves the demo page at / and, with --audience N, runs N
// simulated viewers in the demo room.
func devDemo(ctx context.Context, env *devEnv) error {
	h, err := demoHandler()
	if err != nil {
		return err
	}
	env.mux.Handle("GET /", h)
	if env.audience <= 0 {
		return nil
	}
	log := env.log.With("role", "audience")
	if env.publish == nil {
		log.Warn("simulated audience is off: this build has no ingest path to publish through", "audience", env.audience)
		return nil
	}
	sim := &simAudience{
		n:       env.audience,
		room:    demoRoom,
		publish: env.publish,
		stream:  "ws://" + demoDialAddr(env.httpAddr) + "/v1/stream",
		log:     log,
	}
	env.goes("audience", sim.run)
	return nil
}

// demoHandler serves the embedded page: / is the audience view, /host the
// host console, /assets/* the scripts and styles.
func demoHandler() (http.Handler, error) {
	sub, err := fs.Sub(demoAssets, "demoassets")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, fmt.Errorf("demo page is missing from this build (run `npm ci && npm run build` in web/): %w", err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		switch p {
		case "/", "/index.html":
			p = "/index.html"
		case "/host", "/host.html":
			p = "/host.html"
		default:
			if !strings.HasPrefix(p, "/assets/") {
				http.NotFound(w, r)
				return
			}
		}
		// Asset names carry no content hash, so browsers must revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		if strings.HasSuffix(p, ".html") {
			// Not ServeFileFS: it redirects /index.html to ./.
			b, err := fs.ReadFile(sub, strings.TrimPrefix(p, "/"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(b)
			return
		}
		files.ServeHTTP(w, r)
	}), nil
}

// demoDialAddr turns a listen address into one to dial (":8080" → loopback).
func demoDialAddr(listen string) string {
	if strings.HasPrefix(listen, ":") {
		return "127.0.0.1" + listen
	}
	if strings.HasPrefix(listen, "0.0.0.0:") {
		return "127.0.0.1" + strings.TrimPrefix(listen, "0.0.0.0")
	}
	return listen
}

// simAudience is the simulated crowd of `ovation dev --audience N`. Each
// viewer holds a real WebSocket subscription (so it counts as a viewer)
// and acts at a human pace; actions are published through the ingest path
// like any client's. Viewer 0's connection is the observer, which keeps
// the room state (a.state, under mu) by the stream protocol's rules, so
// the viewers vote in the open poll and upvote real questions. A simulated
// host opens a poll and asks a quiz question when the room has none, so a
// newcomer sees everything move before clicking anything.
type simAudience struct {
	n       int
	room    string
	publish PublishFunc
	stream  string
	log     *slog.Logger

	mu    sync.Mutex
	state schemas.RoomState
	ready bool
}

func (a *simAudience) run(ctx context.Context) error {
	a.log.Info("simulated audience joining", "viewers", a.n, "room", a.room)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.observe(ctx)
	}()
	for i := range a.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.viewer(ctx, i)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.host(ctx)
	}()
	wg.Wait()
	return nil
}

// snapshot returns a copy of the observed room state and whether any was seen.
func (a *simAudience) snapshot() (schemas.RoomState, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.Clone(), a.ready
}

// observe keeps a.state in step with the room with the Go client of the
// stream protocol (pushers/client: subscribe, fold, reconnect and resume)
// until ctx ends.
func (a *simAudience) observe(ctx context.Context) {
	_, user := simViewer(0)
	c := client.New(client.Config{
		URLs:       []string{a.stream + "?user=" + url.QueryEscape(user)},
		BackoffMin: 250 * time.Millisecond,
		OnUpdate: func(room, _ string, _ uint64, st *schemas.RoomState) {
			if room != a.room {
				return
			}
			cp := st.Clone()
			a.mu.Lock()
			a.state, a.ready = cp, true
			a.mu.Unlock()
		},
	})
	if err := c.Subscribe(a.room); err != nil {
		a.log.Warn("observer cannot subscribe", "room", a.room, "err", err)
		return
	}
	if err := c.Run(ctx); err != nil {
		a.log.Warn("observer stopped", "err", err)
	}
}

// simMsg is the part of a server message the simulation reads.
type simMsg struct {
	Type    string            `json:"type"`
	Code    string            `json:"code"`
	Room    string            `json:"room"`
	Epoch   string            `json:"epoch"`
	Seq     uint64            `json:"seq"`
	FromSeq uint64            `json:"from_seq"`
	State   schemas.RoomState `json:"state"`
	Delta   schemas.Delta     `json:"delta"`
}

// follow dials the stream as user, sends hello, and hands every message to
// on until on returns false, the connection fails or ctx ends.
func (a *simAudience) follow(ctx context.Context, user string, hello func(*websocket.Conn) error, on func(*simMsg) bool) error {
	u := a.stream + "?user=" + url.QueryEscape(user)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, _, err := websocket.DefaultDialer.DialContext(dctx, u, nil)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := hello(conn); err != nil {
		return err
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var m simMsg
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		if m.Type == "error" {
			// e.g. "unavailable" while the pusher starts: the subscription
			// did not happen, so start over after the caller's pause.
			return fmt.Errorf("stream error %s", m.Code)
		}
		if on == nil || m.Room != "" && m.Room != a.room {
			continue
		}
		if !on(&m) {
			return fmt.Errorf("gap in the room's frames")
		}
	}
}

// Names, lines and questions the simulated viewers use.
var (
	simNames = []string{"Ada", "Linus", "Grace", "Ken", "Barbara", "Dennis", "Margaret", "Alan", "Radia", "Guido",
		"Frances", "Bjarne", "Katherine", "Rob", "Hedy", "Niklaus", "Sophie", "Tim", "Annie", "Edsger"}
	simChat = []string{"this is great 🔥", "hello from Lisbon!", "👏👏👏", "can you share the slides?", "wow", "love this talk",
		"audio is perfect now", "first time here, hi all", "that demo was slick", "haha", "so true", "+1",
		"great question", "greetings from Nairobi", "is there a recording?", "mind blown 🤯", "🎉", "nice!"}
	simQuestions = []string{"How does this scale past a million viewers?", "What happens when a broker dies?",
		"Is exactly-once really exactly once?", "Which Kafka version do you need?", "Can I self-host this?",
		"How do you keep chat in order?", "What's the latency end to end?"}
	simPolls = []struct {
		q    string
		opts []string
	}{
		{"Where are you watching from?", []string{"Europe", "Americas", "Asia", "Africa", "Oceania"}},
		{"Best part of the show so far?", []string{"The keynote", "Live demo", "Q&A", "The music"}},
		{"Tabs or spaces?", []string{"Tabs", "Spaces", "Whatever gofmt says"}},
		{"How did you hear about us?", []string{"A friend", "Social media", "A newsletter", "Search"}},
	}
	simQuiz = []struct {
		q       string
		opts    []string
		correct int
	}{
		{"Which company first built Kafka?", []string{"Google", "LinkedIn", "Netflix", "Uber"}, 1},
		{"What does a Kafka partition guarantee?", []string{"Global order", "Order within it", "No duplicates", "Nothing"}, 1},
		{"Which protocol does the browser use for live frames?", []string{"WebSocket", "SMTP", "FTP", "Gopher"}, 0},
	}
	simEmoji = []string{"👏", "👏", "👏", "❤️", "❤️", "🔥", "🔥", "😂", "🎉", "😮"}
)

// simViewer names simulated viewer i: a display name and a user id.
func simViewer(i int) (name, user string) {
	name = simNames[i%len(simNames)]
	if i >= len(simNames) {
		name = fmt.Sprintf("%s %d", name, i/len(simNames)+1)
	}
	return name, "sim-" + strings.ToLower(strings.ReplaceAll(name, " ", "-"))
}

// viewer is one simulated person: it joins (a real subscription, so it
// counts as a viewer) and acts every few seconds until ctx ends.
func (a *simAudience) viewer(ctx context.Context, i int) {
	name, user := simViewer(i)
	claims := &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user},
		Rooms:            map[string][]schemas.Capability{a.room: {schemas.CapPublish}},
	}
	// People arrive over the first half minute, not all at once.
	if !simSleep(ctx, rand.N(time.Duration(min(a.n, 30))*time.Second)+time.Millisecond) {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Viewer 0's subscription is the observer's (see run), so the crowd
	// counts exactly N viewers.
	if i != 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_ = a.follow(ctx, user, func(c *websocket.Conn) error {
					return c.WriteJSON(map[string]any{"op": "subscribe", "room": a.room})
				}, nil)
				if !simSleep(ctx, 2*time.Second+rand.N(3*time.Second)) {
					return
				}
			}
		}()
	}
	voted := map[string]bool{}
	answered := map[string]bool{}
	upvoted := map[string]bool{}
	for {
		// A person does something every few seconds on average.
		if !simSleep(ctx, time.Second+rand.N(8*time.Second)) {
			return
		}
		st, ok := a.snapshot()
		ev := a.decide(&st, ok, name, voted, answered, upvoted)
		if ev == nil {
			continue
		}
		b, _ := json.Marshal(ev)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := a.publish(pctx, claims, a.room, b)
		cancel()
		if err != nil && ctx.Err() == nil {
			a.log.Debug("simulated viewer could not publish", "type", ev["type"], "err", err)
		}
	}
}

// decide picks one believable action for a viewer given the room state, or
// nil to stay quiet this time.
func (a *simAudience) decide(st *schemas.RoomState, known bool, name string, voted, answered, upvoted map[string]bool) map[string]any {
	ev := func(t schemas.Type, data map[string]any) map[string]any {
		return map[string]any{"type": t, "data": data}
	}
	if known {
		for id, p := range st.Polls {
			if !p.Closed && !voted[id] && rand.N(3) == 0 {
				voted[id] = true
				// Crowds lean: earlier options a little more popular.
				opt := min(rand.N(len(p.Options)), rand.N(len(p.Options)+1))
				return ev(schemas.PollVote, map[string]any{"poll_id": id, "option": min(opt, len(p.Options)-1)})
			}
		}
		for id, z := range st.Quizzes {
			if !z.Revealed && !answered[id] && rand.N(2) == 0 {
				answered[id] = true
				return ev(schemas.QuizAnswer, map[string]any{"quiz_id": id, "option": rand.N(len(z.Options))})
			}
		}
		if rand.N(8) == 0 {
			var open []string
			for id, q := range st.Questions {
				if !q.Answered && !upvoted[id] {
					open = append(open, id)
				}
			}
			if len(open) > 0 {
				slices.Sort(open)
				id := open[rand.N(len(open))]
				upvoted[id] = true
				return ev(schemas.QAUpvote, map[string]any{"question_id": id})
			}
		}
	}
	switch r := rand.N(100); {
	case r < 55:
		return ev(schemas.Reaction, map[string]any{"emoji": simEmoji[rand.N(len(simEmoji))]})
	case r < 75:
		return ev(schemas.ChatMessage, map[string]any{"text": simChat[rand.N(len(simChat))], "name": name})
	case r < 80 && known && len(st.Questions) < 12:
		return ev(schemas.QAAsk, map[string]any{"text": simQuestions[rand.N(len(simQuestions))]})
	}
	return nil
}

// host opens a poll when none is open, closes its own polls after a while,
// and asks and reveals quiz questions, so the demo has something to vote
// on. It never touches what a human host opened.
func (a *simAudience) host(ctx context.Context) {
	claims := &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "sim-host"},
		Rooms:            map[string][]schemas.Capability{a.room: {schemas.CapHost}},
	}
	send := func(t schemas.Type, data map[string]any) {
		b, _ := json.Marshal(map[string]any{"type": t, "data": data})
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := a.publish(pctx, claims, a.room, b); err != nil && ctx.Err() == nil {
			a.log.Debug("simulated host could not publish", "type", t, "err", err)
		}
	}
	pollOpened := map[string]time.Time{}
	quizAsked := map[string]time.Time{}
	var lastQuiz time.Time
	nPoll, nQuiz := 0, 0
	if !simSleep(ctx, 5*time.Second) {
		return
	}
	for {
		st, ok := a.snapshot()
		if ok {
			open := false
			for id, p := range st.Polls {
				if p.Closed {
					continue
				}
				open = true
				if t, mine := pollOpened[id]; mine && time.Since(t) > 90*time.Second {
					send(schemas.PollClose, map[string]any{"poll_id": id})
					delete(pollOpened, id)
				}
			}
			if !open && len(st.Polls) < schemas.MaxPollsPerRoom-10 {
				p := simPolls[nPoll%len(simPolls)]
				id := fmt.Sprintf("poll-%s-sim%d", simStamp(), nPoll)
				nPoll++
				pollOpened[id] = time.Now()
				send(schemas.PollOpen, map[string]any{"poll_id": id, "question": p.q, "options": p.opts})
			}
			for id, t := range quizAsked {
				if time.Since(t) > 40*time.Second {
					send(schemas.QuizReveal, map[string]any{"quiz_id": id})
					delete(quizAsked, id)
				}
			}
			if len(quizAsked) == 0 && time.Since(lastQuiz) > 2*time.Minute && len(st.Quizzes) < schemas.MaxQuizzesPerRoom-10 {
				z := simQuiz[nQuiz%len(simQuiz)]
				id := fmt.Sprintf("quiz-%s-sim%d", simStamp(), nQuiz)
				nQuiz++
				quizAsked[id], lastQuiz = time.Now(), time.Now()
				send(schemas.QuizAsk, map[string]any{"quiz_id": id, "question": z.q, "options": z.opts, "correct": z.correct, "points": 10})
			}
		}
		if !simSleep(ctx, 3*time.Second) {
			return
		}
	}
}

// simStamp is a base-36 millisecond clock, the same id order the demo
// page uses, so "latest poll" sorts the same for simulated and human hosts.
func simStamp() string { return strconv.FormatInt(time.Now().UnixMilli(), 36) }

// simSleep waits d or until ctx ends; it reports whether ctx is still live.
func simSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
