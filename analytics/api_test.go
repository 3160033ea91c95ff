package analytics

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// loadedAPI copies a small workload into a fresh database and serves the
// API over it.
func loadedAPI(t *testing.T) (base string, w *workload, t0 time.Time) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	events := kafkatest.Topic(t, brokers, 2)
	frames := kafkatest.Topic(t, brokers, 2)
	t0 = time.Now().Add(-time.Hour).Truncate(time.Minute)
	w = newWorkload(9, 3, 6000, t0)
	cl := kafkatest.Client(t, brokers)
	produceAll(t, cl, events, w.events)
	produceAll(t, cl, frames, w.frames)
	stop := runSink(t, SinkConfig{Brokers: brokers, Topics: schemas.Topics{Events: events, Frames: frames},
		ClickHouse: ClickHouseConfig{Addr: []string{chAddr}, Database: db}, FlushInterval: 200 * time.Millisecond, Log: testLog(t)})
	waitCaughtUp(t, chAddr, db, brokers, []string{events, frames}, 60*time.Second)
	stop()
	return newAPIServer(t, chAddr, db).URL, w, t0
}

// TestAPIBadInput sends bad ranges, unknown rooms, huge ranges, bad tokens
// and injection attempts in every parameter: each gets the exact 4xx, code
// and field, and afterwards every count is still right.
func TestAPIBadInput(t *testing.T) {
	base, w, t0 := loadedAPI(t)
	host := testToken(t, "producer", map[string][]schemas.Capability{"room-*": {schemas.CapHost}})
	viewer := testToken(t, "viewer", map[string][]schemas.Capability{"room-0": {schemas.CapSubscribe}})
	other := testToken(t, "other", map[string][]schemas.Capability{"elsewhere": {schemas.CapHost}})
	forged := host[:len(host)-4] + "AAAA"
	sum := "/v1/rooms/room-0/analytics/summary"
	ts := "/v1/rooms/room-0/analytics/timeseries"
	chat := "/v1/rooms/room-0/analytics/chat"
	q := url.QueryEscape
	from := strconv.FormatInt(t0.UnixMilli(), 10)
	cases := []struct {
		name, token, path string
		status            int
		code, field       string
	}{
		{"no token", "", sum, 401, CodeUnauthorized, ""},
		{"forged token", forged, sum, 401, CodeUnauthorized, ""},
		{"token for another room", other, sum, 403, CodeForbidden, ""},
		{"subscriber asks for the summary", viewer, sum, 403, CodeForbidden, ""},
		{"subscriber asks for a time series", viewer, ts, 403, CodeForbidden, ""},
		{"unknown room", host, "/v1/rooms/room-404/analytics/summary", 404, CodeUnknownRoom, "room"},
		{"unknown room, chat", host, "/v1/rooms/room-404/analytics/chat", 404, CodeUnknownRoom, "room"},
		{"room injection", host, "/v1/rooms/" + url.PathEscape("room-0' OR '1'='1") + "/analytics/summary", 400, CodeBadParam, "room"},
		{"room with a slash", host, "/v1/rooms/room-0%2F..%2Fx/analytics/summary", 400, CodeBadParam, "room"},
		{"room too long", host, "/v1/rooms/" + strings.Repeat("r", 65) + "/analytics/summary", 400, CodeBadParam, "room"},
		{"from not a time", host, sum + "?from=yesterday", 400, CodeBadRange, "from"},
		{"from injection", host, sum + "?from=" + q("1 OR 1=1"), 400, CodeBadRange, "from"},
		{"from negative", host, sum + "?from=-5", 400, CodeBadRange, "from"},
		{"from before 2000", host, sum + "?from=0", 400, CodeBadRange, "from"},
		{"to after 2100", host, sum + "?to=" + q("2100-01-02T00:00:00Z"), 400, CodeBadRange, "to"},
		{"to before from", host, sum + "?from=" + from + "&to=" + strconv.FormatInt(t0.UnixMilli()-1, 10), 400, CodeBadRange, "to"},
		{"to equals from", host, sum + "?from=" + from + "&to=" + from, 400, CodeBadRange, "to"},
		{"summary range too large", host, sum + "?from=" + q("2001-01-01T00:00:00Z") + "&to=" + q("2099-01-01T00:00:00Z"), 400, CodeRangeTooBig, "to"},
		{"summary from alone, too long ago", host, sum + "?from=" + q("2001-01-01T00:00:00Z"), 400, CodeRangeTooBig, "from"},
		{"summary from alone, in the future", host, sum + "?from=" + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), 400, CodeBadRange, "from"},
		{"series from alone, too many points", host, ts + "?step=1s&from=" + q("2026-01-01T00:00:00Z"), 400, CodeRangeTooBig, "to"},
		{"series range too large", host, ts + "?step=1s&from=" + q("2026-01-01T00:00:00Z") + "&to=" + q("2026-01-02T00:00:00Z"), 400, CodeRangeTooBig, "to"},
		{"series from in the future", host, ts + "?from=" + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10), 400, CodeBadRange, "from"},
		{"unknown step", host, ts + "?step=7s", 400, CodeBadParam, "step"},
		{"step injection", host, ts + "?step=" + q("1m) FROM system.tables --"), 400, CodeBadParam, "step"},
		{"unknown type", host, ts + "?type=likes", 400, CodeBadParam, "type"},
		{"type injection", host, ts + "?type=" + q("chat; DROP TABLE events"), 400, CodeBadParam, "type"},
		{"emoji on chat", host, ts + "?type=chat&emoji=" + q("👏"), 400, CodeBadParam, "emoji"},
		{"emoji injection", host, ts + "?emoji=" + q("' OR '1'='1"), 400, CodeBadParam, "emoji"},
		{"emoji injection without spaces", host, ts + "?emoji=" + q("'OR'1'='1"), 400, CodeBadParam, "emoji"},
		{"emoji too long", host, ts + "?emoji=" + q(strings.Repeat("👏", 9)), 400, CodeBadParam, "emoji"},
		{"emoji control character", host, ts + "?emoji=%00", 400, CodeBadParam, "emoji"},
		{"limit zero", host, chat + "?limit=0", 400, CodeBadParam, "limit"},
		{"limit too big", host, chat + "?limit=501", 400, CodeBadParam, "limit"},
		{"limit not a number", host, chat + "?limit=1e3", 400, CodeBadParam, "limit"},
		{"limit injection", host, chat + "?limit=" + q("10 UNION SELECT"), 400, CodeBadParam, "limit"},
		{"before garbage", host, chat + "?before=abc", 400, CodeBadRange, "before"},
		{"before cursor with a bad id", host, chat + "?before=" + q(from+"~x' OR 1=1"), 400, CodeBadParam, "before"},
		{"before cursor with a bad time", host, chat + "?before=" + q("99~e1"), 400, CodeBadParam, "before"},
		{"unknown parameter", host, sum + "?room=room-1", 400, CodeBadParam, "room"},
		{"parameter name injection", host, sum + "?" + q("from;DROP") + "=1", 400, CodeBadParam, "from;DROP"},
		{"repeated parameter", host, sum + "?from=" + from + "&from=" + from, 400, CodeBadParam, "from"},
		{"epoch injection", host, sum + "?epoch=" + q("ep1' OR '1'='1"), 400, CodeBadParam, "epoch"},
		{"unknown epoch", host, ts + "?epoch=ep2", 404, CodeUnknownEpoch, "epoch"},
		{"malformed query string", host, sum + "?from=%zz", 400, CodeBadParam, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := apiDo(t, base, c.token, c.path)
			var e struct{ Error APIError }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%d %s: not a JSON error: %v", status, body, err)
			}
			if status != c.status || e.Error.Code != c.code || e.Error.Field != c.field || e.Error.Message == "" {
				t.Errorf("GET %s: %d %s, want %d code %q field %q", c.path, status, body, c.status, c.code, c.field)
			}
		})
	}
	// Nothing above changed or broke anything.
	checkRooms(t, base, host, w)
	if status, body := apiDo(t, base, viewer, chat); status != 200 {
		t.Errorf("a subscriber reads chat history: %d %s", status, body)
	}
}

// TestAPISeriesAndChat checks that every time series sums to the summary's
// total, per emoji too, and that paging through chat history returns each
// accepted, undeleted message exactly once, newest first.
func TestAPISeriesAndChat(t *testing.T) {
	base, w, t0 := loadedAPI(t)
	checkSeriesAndChat(t, base, w, t0)
}

// checkSeriesAndChat checks every room's time series against the fold's
// totals and pages through its whole chat history; w's events start at t0.
func checkSeriesAndChat(t testing.TB, base string, w *workload, t0 time.Time) {
	t.Helper()
	host := testToken(t, "producer", map[string][]schemas.Capability{"*": {schemas.CapHost}})
	from := strconv.FormatInt(t0.Add(-time.Minute).UnixMilli(), 10)
	to := strconv.FormatInt(t0.Add(time.Hour).UnixMilli(), 10)
	for _, room := range w.rooms {
		tot := w.totals[room]
		for typ, want := range map[string]int64{"chat": tot.Chat, "reactions": tot.Reactions, "votes": tot.Votes,
			"questions": tot.Questions, "upvotes": tot.Upvotes, "answers": tot.Answers} {
			for _, step := range []string{"1s", "1m"} {
				var s Series
				apiGet(t, base, host, "/v1/rooms/"+room+"/analytics/timeseries?type="+typ+"&step="+step+"&from="+from+"&to="+to, &s)
				if s.Total != want {
					t.Errorf("%s %s per %s: total %d, want %d", room, typ, step, s.Total, want)
				}
				if s.Points[0].T != t0.Add(-time.Minute).UnixMilli() || len(s.Points) != int(61*time.Minute/map[string]time.Duration{"1s": time.Second, "1m": time.Minute}[step]) {
					t.Errorf("%s %s per %s: %d points from %d", room, typ, step, len(s.Points), s.Points[0].T)
				}
			}
		}
		for _, e := range testEmoji {
			var s Series
			apiGet(t, base, host, "/v1/rooms/"+room+"/analytics/timeseries?type=reactions&emoji="+url.QueryEscape(e)+"&from="+from+"&to="+to, &s)
			if s.Total != w.reactions[room][e] {
				t.Errorf("%s %s: total %d, want %d", room, e, s.Total, w.reactions[room][e])
			}
		}
		// Chat history, 37 per page.
		var got []schemas.ChatLine
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatal("paging does not end")
			}
			var p ChatPage
			path := "/v1/rooms/" + room + "/analytics/chat?limit=37"
			if cursor != "" {
				path += "&before=" + url.QueryEscape(cursor)
			}
			apiGet(t, base, host, path, &p)
			got = append(got, p.Messages...)
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		want := slices.Clone(w.chat[room])
		slices.SortStableFunc(want, func(a, b schemas.ChatLine) int {
			if a.TS != b.TS {
				return int(b.TS - a.TS)
			}
			return strings.Compare(b.ID, a.ID)
		})
		if len(got) != len(want) {
			t.Fatalf("%s: paged %d chat messages, want %d", room, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: chat[%d] = %+v, want %+v", room, i, got[i], want[i])
			}
		}
	}
}
