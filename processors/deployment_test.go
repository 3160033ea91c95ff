package processors

import (
	"strings"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

const testDepRoom = "ovation.deployment"

// depItem is one record of a partition's log in a deployment test: an
// event, or a deployment copy.
type depItem struct {
	ev   *schemas.Event
	copy bool
}

// TestDeploymentFold runs deployment-wide bans, timeouts, unbans and
// filters through one partition: the deployment room's fold writes a copy
// of each, the partition applies the copy at its position, and every room
// of the partition judges its later events by it (by the events' ts), not
// the ones before the copy. A restore from the changelog (the g/ record)
// continues with the same decisions, and a rebuild of a room from its
// log with the copies in it reproduces the same state. Masking, holding
// and refusing deployment filters apply with the room's own.
func TestDeploymentFold(t *testing.T) {
	cfg := testConfig()
	cfg.DeploymentRoom = testDepRoom
	h := newHarness(t, cfg)
	var log []depItem
	n := 0
	step := func(room, user string, typ schemas.Type, ts int64, data any, want Outcome, reason Reason) {
		t.Helper()
		n++
		e := ev(t, "e"+strings.Repeat("x", n%3)+string(rune('a'+n%26))+string(rune('a'+n/26)), room, user, typ, ts, data)
		log = append(log, depItem{ev: e})
		if o, r := h.apply(e); o != want || r != reason {
			t.Fatalf("step %d: %s %s by %s in %s: got %v %q, want %v %q", n, typ, e.ID, user, room, o, r, want, reason)
		}
		h.flush()
	}
	// applyCopies applies the copies written so far, as the partition
	// reads them back.
	applied := 0
	applyCopies := func() {
		t.Helper()
		for ; applied < len(h.copies); applied++ {
			c, err := schemas.ParseDeploymentCopy(h.copies[applied], "")
			if err != nil {
				t.Fatalf("copy %d does not parse: %v", applied, err)
			}
			log = append(log, depItem{ev: &c, copy: true})
			if why := h.p.ApplyDeployment(&c); why != "" {
				t.Fatalf("copy %d not applied: %s", applied, why)
			}
		}
		h.flush()
	}
	chat := func(s string) any { return schemas.ChatMessageData{Text: s} }
	clap := schemas.ReactionData{Emoji: "👏"}

	step("r1", "bob", schemas.ChatMessage, 1000, chat("hi"), Applied, "")
	step(testDepRoom, "mod", schemas.ModBan, 2000, schemas.ModBanData{Target: "bob", Reason: "everywhere"}, Applied, "")
	if len(h.copies) != 1 {
		t.Fatalf("the deployment room's ban wrote %d copies, want 1", len(h.copies))
	}
	// Before the copy's position, bob's events still count, whatever
	// their ts.
	step("r1", "bob", schemas.ChatMessage, 3000, chat("still here"), Applied, "")
	applyCopies()
	// After it, every room refuses them, whatever their ts.
	step("r1", "bob", schemas.ChatMessage, 1500, chat("late"), Ignored, ReasonBanned)
	step("r2", "bob", schemas.Reaction, 4000, clap, Ignored, ReasonBanned)
	step("r2", "bob", schemas.Presence, 4001, schemas.PresenceData{Node: "n1", Viewers: 1}, Ignored, ReasonNoRoom)
	// A room's own events by others are untouched.
	step("r2", "ann", schemas.Reaction, 4002, clap, Applied, "")
	// A deployment timeout, by the events' ts.
	step(testDepRoom, "mod", schemas.ModTimeout, 10000, schemas.ModTimeoutData{Target: "cat", Seconds: 60}, Applied, "")
	applyCopies()
	step("r1", "cat", schemas.ChatMessage, 20000, chat("hello?"), Ignored, ReasonTimedOut)
	step("r2", "cat", schemas.ChatMessage, 70000, chat("back"), Applied, "")
	// Non-deployment events of the deployment room are not copied.
	step(testDepRoom, "mod", schemas.RoomControls, 70001, schemas.Controls{SlowMode: 5}, Applied, "")
	if len(h.copies) != applied {
		t.Fatalf("room.controls in the deployment room was copied")
	}
	// A filter: the room's own, then the deployment's mask.
	step("r1", "mod", schemas.ModFilters, 71000, schemas.ModFiltersData{Words: []string{"spam"}, Action: schemas.FilterRefuse}, Applied, "")
	step(testDepRoom, "mod", schemas.ModFilters, 71001, schemas.ModFiltersData{Words: []string{"idiot"}, Patterns: []string{"f+r+e+e+"}, Action: schemas.FilterMask}, Applied, "")
	step("r1", "ann", schemas.ChatMessage, 71002, chat("you idiot"), Applied, "") // before the copy
	applyCopies()
	step("r1", "ann", schemas.ChatMessage, 71003, chat("you іdіot, FREEEE"), Applied, "")
	step("r1", "ann", schemas.ChatMessage, 71004, chat("spam"), Ignored, ReasonFiltered)
	step("r2", "ann", schemas.QAAsk, 71005, schemas.QAAskData{Text: "id1ot?"}, Applied, "")
	st, _, _, _ := h.p.RoomState("r1")
	if got := st.Chat[len(st.Chat)-1].Text; got != "you *****, ******" {
		t.Fatalf("masked line shows %q", got)
	}
	if got := st.Chat[len(st.Chat)-2].Text; got != "you idiot" {
		t.Fatalf("the line before the filter's copy shows %q", got)
	}
	// Holding deployment-wide: the line waits in the room's pending
	// queue, as written, and is shown nowhere.
	step(testDepRoom, "mod", schemas.ModFilters, 71500, schemas.ModFiltersData{Words: []string{"idiot"}, Action: schemas.FilterHold}, Applied, "")
	applyCopies()
	step("r2", "ann", schemas.ChatMessage, 71501, chat("such an idiot"), Applied, "")
	vs, _, _, ok := h.p.ViewState("r2")
	if !ok || len(vs.Held) != 1 {
		t.Fatalf("r2's pending queue after a held line: %v %s", ok, js(vs.Held))
	}
	for _, it := range vs.Held {
		if it.Text != "such an idiot" || !it.Filtered || it.User != "ann" {
			t.Fatalf("held item %s", js(it))
		}
	}
	if st, _, _, _ := h.p.RoomState("r2"); strings.Contains(js(st.Chat), "idiot") {
		t.Fatalf("r2 shows a held line: %s", js(st.Chat))
	}
	h.checkView("r2")
	// Refusing deployment-wide.
	step(testDepRoom, "mod", schemas.ModFilters, 72000, schemas.ModFiltersData{Words: []string{"idiot"}, Action: schemas.FilterRefuse}, Applied, "")
	applyCopies()
	step("r2", "ann", schemas.ChatMessage, 72001, chat("IDIOT"), Ignored, ReasonFiltered)
	// The deployment room's filters never reach a frame or snapshot.
	for _, f := range h.frames {
		if strings.Contains(js(f), "f+r+e+e+") {
			t.Fatalf("a frame of %s carries the filter: %s", f.Room, js(f))
		}
	}
	for _, sn := range h.snapshots {
		if strings.Contains(js(sn), "f+r+e+e+") {
			t.Fatalf("a snapshot of %s carries the filter", sn.Room)
		}
	}
	// A restore continues with the same table.
	p2 := h.restored()
	if got, want := js(p2.DeploymentSanctions()), js(h.p.DeploymentSanctions()); got != want {
		t.Fatalf("restored sanctions %s, want %s", got, want)
	}
	var b Batch
	if o, r := p2.Apply(ev(t, "x1", "r2", "bob", schemas.ChatMessage, 80000, chat("again")), &b); o != Ignored || r != ReasonBanned {
		t.Fatalf("restored partition: bob's line %v %q", o, r)
	}
	if o, r := p2.Apply(ev(t, "x2", "r2", "ann", schemas.ChatMessage, 80001, chat("idiot")), &b); o != Ignored || r != ReasonFiltered {
		t.Fatalf("restored partition: ann's filtered line %v %q", o, r)
	}
	// Unban everywhere.
	step(testDepRoom, "mod", schemas.ModUnban, 90000, schemas.ModUnbanData{Target: "bob"}, Applied, "")
	step("r1", "bob", schemas.ChatMessage, 90001, chat("before the copy"), Ignored, ReasonBanned)
	applyCopies()
	step("r1", "bob", schemas.ChatMessage, 90002, chat("sorry"), Applied, "")
	if len(h.p.DeploymentSanctions()) != 1 {
		t.Fatalf("sanctions after the unban: %v", h.p.DeploymentSanctions())
	}
	h.checkFold()
	// The verdicts cover the refusals, so analytics agrees.
	banned := 0
	for _, v := range h.verdicts {
		if v.Reason == string(ReasonBanned) || v.Reason == string(ReasonTimedOut) {
			banned++
		}
	}
	if banned != 4 {
		t.Fatalf("%d verdicts for deployment sanctions, want 4", banned)
	}
	// A rebuild of each room from its log, copies included, gives the
	// same state.
	for _, room := range []string{"r1", "r2"} {
		f := newFold(cfg, room, "rebuilt")
		for _, it := range log {
			if it.copy {
				f.addCopy(it.ev)
			} else {
				f.add(it.ev)
			}
		}
		h2 := newHarness(t, cfg)
		h2.p.install(f, &h2.batch)
		h2.flush()
		got, _, _, _ := h2.p.RoomState(room)
		want, _, _, _ := h.p.RoomState(room)
		if !equalState(got, want) {
			t.Fatalf("room %s rebuilt: %s", room, diffState(got, want))
		}
	}
}

// TestDepTableBound fills a partition's deployment table to
// schemas.MaxDeploymentSanctions of the longest, most escaped fields:
// the encoded g/ record stays within its computed bound and within the
// record limit of Ovation's topics, and one more user is not taken.
func TestDepTableBound(t *testing.T) {
	limit := schemas.TopicMaxMessageBytes - schemas.RecordOverheadBytes
	tb := newDepTable()
	lt := func(n int) string { return strings.Repeat("<", n) }
	for i := 0; i < schemas.MaxDeploymentSanctions; i++ {
		user := lt(schemas.MaxUserLen-6) + strings.Repeat("0", 6-len(itoa(i))) + itoa(i)
		e := &schemas.Event{User: lt(schemas.MaxUserLen), TS: 1 << 40, Type: schemas.ModTimeout,
			Body: &schemas.ModTimeoutData{Target: user, Seconds: schemas.MaxTimeoutSeconds, Reason: lt(schemas.MaxReasonLen)}}
		if why := tb.apply(e, limit); why != "" {
			t.Fatalf("sanction %d: %s", i, why)
		}
	}
	rec := tb.record()
	if len(rec) > tb.size || tb.size > worstDepTableBytes() || len(depTableKey)+len(rec) > limit {
		t.Fatalf("record %d B, bound kept %d B, worst case %d B, limit %d B", len(rec), tb.size, worstDepTableBytes(), limit)
	}
	t.Logf("deployment table at %d sanctions: %d B encoded, bound %d B, record limit %d B", schemas.MaxDeploymentSanctions, len(rec), worstDepTableBytes(), limit)
	e := &schemas.Event{User: "m", TS: 1 << 40, Type: schemas.ModBan, Body: &schemas.ModBanData{Target: "one-more"}}
	if why := tb.apply(e, limit); why == "" {
		t.Fatal("a sanction past the table's bound was taken")
	}
	// Ended timeouts leave room: a ban after they end is taken.
	e.TS = 1<<40 + int64(schemas.MaxTimeoutSeconds)*1000
	if why := tb.apply(e, limit); why != "" || len(tb.sanctions) != 1 {
		t.Fatalf("after the timeouts ended: %q, %d sanctions", why, len(tb.sanctions))
	}
	if _, err := parseDepTable(rec); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// FuzzDepTable: a g/ record either restores a table that encodes back
// to a record restoring the same, or is refused; it never panics.
func FuzzDepTable(f *testing.F) {
	f.Add([]byte(`{"sanctions":{"bob":{"kind":"ban","by":"m","ts":1}},"words":["idiot"],"patterns":["f+"],"action":"mask"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"sanctions":{"":{"kind":"x"}}}`))
	f.Add([]byte(`{"words":["a"],"action":"nope"}`))
	f.Add([]byte(`{"patterns":["("],"action":"refuse"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := parseDepTable(b)
		if err != nil {
			return
		}
		again, err := parseDepTable(tb.record())
		if err != nil {
			t.Fatalf("re-encoded table does not parse: %v", err)
		}
		if js(again.record()) != js(tb.record()) {
			t.Fatalf("table changed through its record: %s / %s", again.record(), tb.record())
		}
	})
}
