package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ovation-live/ovation/analytics"
	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestVerdictsClickHouse is "one rule for what counts" end to end on real
// Kafka and ClickHouse: a processor folds a room where a banned user
// writes, a timeout with hide takes a shown line away, a masking filter
// masks a line, reactions are turned off, chat is held for review (one
// line approved, one not) and the room closes;
// the sink copies events, frames and the processors' verdicts; the
// analytics API's participants, events per type and chat history count
// exactly what the room's frames show, with the masked line as shown.
func TestVerdictsClickHouse(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 2, 1)
	chat := func(text string) any { return schemas.ChatMessageData{Text: text} }
	ts := time.Now().Add(-time.Minute).UnixMilli()
	steps := []struct {
		user string
		typ  schemas.Type
		data any
	}{
		{"gil", schemas.ChatMessage, chat("shown, then hidden")},                                                 // e0 counted, hidden
		{"mod", schemas.ModTimeout, schemas.ModTimeoutData{Target: "gil", Seconds: 1, Hide: true}},               // e1
		{"ann", schemas.ChatMessage, chat("hi")},                                                                 // e2 counted
		{"mod", schemas.ModBan, schemas.ModBanData{Target: "bob"}},                                               // e3
		{"bob", schemas.ChatMessage, chat("let me in")},                                                          // e4 banned
		{"bob", schemas.Reaction, schemas.ReactionData{Emoji: "👏"}},                                              // e5 banned
		{"mod", schemas.ModFilters, schemas.ModFiltersData{Words: []string{"spam"}, Action: schemas.FilterMask}}, // e6
		{"ann", schemas.ChatMessage, chat("no spam here")},                                                       // e7 masked
		{"mod", schemas.RoomControls, schemas.Controls{ReactionsOff: true}},                                      // e8
		{"cat", schemas.Reaction, schemas.ReactionData{Emoji: "🔥"}},                                              // e9 reactions_off
		{"mod", schemas.RoomControls, schemas.Controls{HoldChat: true}},                                          // e10
		{"dan", schemas.ChatMessage, chat("approve me")},                                                         // e11 held, approved
		{"eve", schemas.ChatMessage, chat("never shown")},                                                        // e12 held
		{"mod", schemas.ModApprove, schemas.ModApproveData{ID: "e11"}},                                           // e13
		{"mod", schemas.RoomClose, schemas.RoomCloseData{}},                                                      // e14
		{"fay", schemas.ChatMessage, chat("too late")},                                                           // e15 room_closed
	}
	var evs []*schemas.Event
	for i, s := range steps {
		evs = append(evs, ev(t, fmt.Sprintf("e%d", i), "vroom", s.user, s.typ, ts+int64(i), s.data))
	}
	group := "verdicts-" + tp.Events
	runProcessor(t, Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t)})
	get := startAnalytics(t, brokers, chAddr, tp)
	produceEvents(t, brokers, tp.Events, evs)
	waitCaughtUp(t, brokers, group, tp.Events, 60*time.Second)

	// What viewers saw: the room's frames.
	frames := readAll(t, brokers, tp.Frames)
	st := schemas.NewRoomState()
	for _, r := range frames.records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if f.Room == "vroom" {
			st.Apply(&f.Delta)
		}
	}
	var shown []string
	for _, l := range st.Chat {
		shown = append(shown, l.User+": "+l.Text)
	}
	wantChat := []string{"ann: hi", "ann: no **** here", "dan: approve me"}
	if !slices.Equal(shown, wantChat) {
		t.Fatalf("frames show chat %q, want %q", shown, wantChat)
	}
	// Participants and events per type: mod (8 actions), gil (a line
	// shown, then hidden: it counts, but is not in the history), ann (2
	// lines), dan (the approved line); bob, cat, eve and fay count nowhere.
	wantEvents := map[string]int64{"chat.message": 4, "mod.timeout": 1, "mod.ban": 1, "mod.filters": 1, "room.controls": 2, "mod.approve": 1, "room.close": 1}
	var sum struct {
		Participants int64            `json:"participants"`
		Events       map[string]int64 `json:"events"`
	}
	var page struct {
		Messages []schemas.ChatLine `json:"messages"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := get("/v1/rooms/vroom/analytics/summary", &sum) && get("/v1/rooms/vroom/analytics/chat", &page)
		if ok && sum.Participants == 4 && fmt.Sprint(sum.Events) == fmt.Sprint(wantEvents) && slices.Equal(chatOf(page.Messages), wantChat) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse: %d participants, events %v, chat %q; want 4, %v, %q", sum.Participants, sum.Events, chatOf(page.Messages), wantEvents, wantChat)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("ClickHouse agrees with the frames: 4 participants, events %v, chat %q", sum.Events, wantChat)
}

// chatOf lists a newest-first chat page oldest first as "user: text".
func chatOf(page []schemas.ChatLine) []string {
	var out []string
	for i := len(page) - 1; i >= 0; i-- {
		out = append(out, page[i].User+": "+page[i].Text)
	}
	return out
}

// startAnalytics runs a sink of tp into a fresh ClickHouse database and
// the analytics API over it until the test ends; get asks the API (as a
// host of every room) and reports false while the room is unknown.
func startAnalytics(t *testing.T, brokers []string, chAddr string, tp schemas.Topics) (get func(path string, out any) bool) {
	db := chtest.Database(t, chAddr)
	sink, err := analytics.NewSink(analytics.SinkConfig{Brokers: brokers, Topics: tp,
		ClickHouse: analytics.ClickHouseConfig{Addr: []string{chAddr}, Database: db}, Group: "sink-" + tp.Events,
		FlushInterval: 100 * time.Millisecond, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- sink.Run(sctx) }()
	t.Cleanup(func() { scancel(); <-sinkDone })
	secret := []byte("verdicts-test-secret-0123456789abcdef")
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": secret}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := analytics.NewAPI(analytics.APIConfig{ClickHouse: analytics.ClickHouseConfig{Addr: []string{chAddr}, Database: db}, Verifier: v, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); api.Close() })
	c := &auth.Claims{Rooms: map[string][]schemas.Capability{"*": {schemas.CapHost, schemas.CapSubscribe}}}
	c.Subject, c.ExpiresAt = "host", jwt.NewNumericDate(time.Now().Add(time.Hour))
	tok, err := auth.Sign(secret, "", c)
	if err != nil {
		t.Fatal(err)
	}
	return func(path string, out any) bool {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return false // the sink has not written the room yet
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
		return true
	}
}
