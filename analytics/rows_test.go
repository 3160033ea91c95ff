package analytics

import (
	"math"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/schemas"
)

// TestFrameRow checks how a frame is flattened: counters in columns,
// reactions, votes, upvotes and answers as sorted parallel arrays, and the
// delta kept (without chat) only when it changes more than counters.
func TestFrameRow(t *testing.T) {
	v := int64(42)
	f := schemas.Frame{Room: "r1", Epoch: "ep", Seq: 7, TS: 1_764_000_000_123, Delta: schemas.Delta{
		Reactions: map[string]int64{"🔥": 2, "👏": 5},
		Chat:      []schemas.ChatLine{{ID: "m1", User: "u", Text: "hi", TS: 1}},
		Polls: map[string]*schemas.PollDelta{
			"p2": {Votes: []int64{0, -1, 1}},
			"p1": {Question: "Q?", Options: []string{"a", "b"}, Votes: []int64{1, 0}},
		},
		Questions: map[string]*schemas.QuestionDelta{"q1": {Upvotes: 3}},
		Quizzes:   map[string]*schemas.QuizDelta{"z1": {Answers: 4}},
		Viewers:   &v,
		Totals:    &schemas.Totals{Chat: 1, Reactions: 7, Votes: 2, Upvotes: 3, Answers: 4},
	}}
	r := newFrameRow(&f, source{topic: "frames", partition: 2, offset: 99})
	if r.totals != *f.Delta.Totals || r.viewers != 42 || r.hasViewers != 1 {
		t.Errorf("counters: %+v viewers %d/%d", r.totals, r.viewers, r.hasViewers)
	}
	if !slices.Equal(r.rEmoji, []string{"👏", "🔥"}) || !slices.Equal(r.rN, []int64{5, 2}) {
		t.Errorf("reactions %v %v", r.rEmoji, r.rN)
	}
	if !slices.Equal(r.pPoll, []string{"p1", "p2", "p2"}) || !slices.Equal(r.pOption, []uint16{0, 1, 2}) || !slices.Equal(r.pN, []int64{1, -1, 1}) {
		t.Errorf("votes %v %v %v", r.pPoll, r.pOption, r.pN)
	}
	if !slices.Equal(r.qID, []string{"q1"}) || !slices.Equal(r.qN, []int64{3}) || !slices.Equal(r.zID, []string{"z1"}) || !slices.Equal(r.zN, []int64{4}) {
		t.Errorf("questions %v %v quizzes %v %v", r.qID, r.qN, r.zID, r.zN)
	}
	if r.meta != 1 {
		t.Fatal("a poll opened in the frame: meta must be 1")
	}
	var d schemas.Delta
	if err := json.Unmarshal([]byte(r.delta), &d); err != nil {
		t.Fatal(err)
	}
	if d.Chat != nil || d.Polls["p1"].Question != "Q?" {
		t.Errorf("stored delta %s", r.delta)
	}
	vals := r.values()
	if len(vals) != 27 {
		t.Errorf("%d values for 27 columns", len(vals))
	}
	checkColumns(t, vals, frameColumnsOf([]frameRow{r}))

	// A counters-only frame keeps no delta.
	f.Delta = schemas.Delta{Reactions: map[string]int64{"👏": 1}, Totals: &schemas.Totals{Reactions: 1}}
	if r := newFrameRow(&f, source{}); r.meta != 0 || r.delta != "" {
		t.Errorf("counters-only frame: meta %d delta %q", r.meta, r.delta)
	}
}

// TestEventRow checks the ref, option and ver columns of event rows.
func TestEventRow(t *testing.T) {
	ev, err := schemas.ParseEvent([]byte(`{"v":1,"id":"e1","room":"r","user":"u","type":"poll.vote","ts":1764000000123,"data":{"poll_id":"p9","option":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := newEventRow(&ev, source{topic: "events", partition: 1, offset: 10})
	vals := r.values()
	if r.ref != "p9" || r.option != 2 || len(vals) != 16 {
		t.Errorf("ref %q option %d, %d values", r.ref, r.option, len(vals))
	}
	checkColumns(t, vals, eventColumnsOf([]eventRow{r}))
	if ver := vals[15].(uint64); ver != math.MaxInt64-10 {
		t.Errorf("ver %d", ver)
	}
	if ts := vals[4].(time.Time); ts.Unix() != 1764000000 || vals[5].(uint64) != 1764000000123 {
		t.Errorf("ts %v %v", vals[4], vals[5])
	}
	// An earlier copy of the same id has the larger ver: FINAL keeps it.
	early := newEventRow(&ev, source{offset: 3})
	if early.values()[15].(uint64) <= vals[15].(uint64) {
		t.Error("the earlier offset must have the larger ver")
	}
}

// TestParams checks the parameter grammar without ClickHouse.
func TestParams(t *testing.T) {
	ms, ok, err := parseTime(url.Values{"from": {"2026-11-29T20:00:00.5Z"}}, "from")
	if err != nil || !ok || ms != time.Date(2026, 11, 29, 20, 0, 0, 5e8, time.UTC).UnixMilli() {
		t.Errorf("RFC 3339: %d %v %v", ms, ok, err)
	}
	for _, bad := range []string{"+1764000000000", "1764000000000.5", "1e12", "0x10", "now", "2026-13-01T00:00:00Z", "946684799999"} {
		if _, _, err := parseTime(url.Values{"from": {bad}}, "from"); err == nil {
			t.Errorf("from=%q accepted", bad)
		}
	}
	if ms, id, err := parseBefore("1764000000123~m:1.a"); err != nil || ms != 1764000000123 || id != "m:1.a" {
		t.Errorf("cursor: %d %q %v", ms, id, err)
	}
	for _, bad := range []string{"~x", "1764000000123~", "1764000000123~a b", "-1~a", "abc"} {
		if _, _, err := parseBefore(bad); err == nil {
			t.Errorf("before=%q accepted", bad)
		}
	}
	for _, ok := range []string{"👏", "❤️", "🏳️‍🌈"} {
		if err := checkEmoji(ok); err != nil {
			t.Errorf("emoji %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "'", "a b", "a;b", `\`, "%", "(", "\x00", string([]byte{0xff}), ":clap:", "+1", "👏👏"} {
		if err := checkEmoji(bad); err == nil {
			t.Errorf("emoji %q accepted", bad)
		}
	}
	for _, db := range []string{"1abc", "a-b", "a.b", "a b", ""} {
		if checkDatabase(db) == nil {
			t.Errorf("database %q accepted", db)
		}
	}
}

// checkColumns checks that the columnar form of one row holds the row's
// values, column by column.
func checkColumns(t *testing.T, row []any, cols []any) {
	t.Helper()
	if len(cols) != len(row) {
		t.Fatalf("%d columns for %d values", len(cols), len(row))
	}
	for i := range cols {
		c := reflect.ValueOf(cols[i])
		if c.Len() != 1 || !reflect.DeepEqual(c.Index(0).Interface(), row[i]) {
			t.Errorf("column %d = %v, row value %v", i, c.Interface(), row[i])
		}
	}
}

// TestCustomEventRow: a custom type's event is a row like any other, its
// key in ref (SQL groups by it) and its data as written.
func TestCustomEventRow(t *testing.T) {
	g, err := schemas.ParseRegistry([]byte(`types: [{name: custom.hype, fold: counter, key: level, amount: n, max_amount: 10, schema: {type: object}}]`))
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: "events", Value: []byte(`{"v":1,"id":"e1","room":"r","user":"u","type":"custom.hype","ts":1764000000123,"data":{"level":"fire","n":3}}`)}
	if _, ok := schemas.CountedEvent(rec); ok {
		t.Fatal("counted without the registry")
	}
	ev, ok := g.CountedEvent(rec)
	if !ok {
		t.Fatal("not counted with the registry")
	}
	r := newEventRow(&ev, source{topic: "events"})
	if r.typ != "custom.hype" || r.ref != "fire" || r.data != `{"level":"fire","n":3}` {
		t.Errorf("row %+v", r)
	}
	checkColumns(t, r.values(), eventColumnsOf([]eventRow{r}))
}
