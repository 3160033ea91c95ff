package processors

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovation-live/ovation/analytics"
	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// mdep is the model's deployment table of one partition: naive, from
// the copies as the partition's log holds them.
type mdep struct {
	sanctions map[string]schemas.Sanction
	keys      []string
	res       []*regexp.Regexp
	mask      bool
	hits      int // events its sanctions refused
	filtered  int // lines its filter refused
	masked    int // lines its filter masked
}

func (d *mdep) sanction(user string) (schemas.Sanction, bool) {
	if d == nil {
		return schemas.Sanction{}, false
	}
	s, ok := d.sanctions[user]
	return s, ok
}

// filter returns text as the deployment filter leaves it, or false when
// it refuses it.
func (d *mdep) filter(text string) (string, bool) {
	if d == nil || len(d.keys) == 0 && len(d.res) == 0 {
		return text, true
	}
	masked, hit := schemas.FilterMatch(text, d.keys, d.res)
	switch {
	case !hit:
		return text, true
	case d.mask:
		d.masked++
		return masked, true
	}
	d.filtered++
	return "", false
}

// apply takes one copy.
func (d *mdep) apply(t testing.TB, e *schemas.Event) {
	set := func(user string, s schemas.Sanction) {
		for u, old := range d.sanctions {
			if old.Until != 0 && e.TS >= old.Until {
				delete(d.sanctions, u)
			}
		}
		if d.sanctions == nil {
			d.sanctions = map[string]schemas.Sanction{}
		}
		d.sanctions[user] = s
	}
	switch b := e.Body.(type) {
	case *schemas.ModBanData:
		set(b.Target, schemas.Sanction{Kind: schemas.SanctionBan, By: e.User, TS: e.TS, Reason: b.Reason})
	case *schemas.ModTimeoutData:
		set(b.Target, schemas.Sanction{Kind: schemas.SanctionTimeout, Until: e.TS + int64(b.Seconds)*1000, By: e.User, TS: e.TS, Reason: b.Reason})
	case *schemas.ModUnbanData:
		delete(d.sanctions, b.Target)
	case *schemas.ModFiltersData:
		d.keys, d.res = nil, nil
		for _, w := range b.Words {
			if k := schemas.FilterKey(w); !slices.Contains(d.keys, k) {
				d.keys = append(d.keys, k)
			}
		}
		slices.Sort(d.keys)
		for _, p := range b.Patterns {
			re, err := schemas.CompilePattern(p)
			if err != nil {
				t.Fatal(err)
			}
			d.res = append(d.res, re)
		}
		d.mask = b.Action == schemas.FilterMask
	default:
		t.Fatalf("copy of %s", e.Type)
	}
}

// deploymentEvent is a deployment-wide action by the deployment room's
// moderator: a ban, a timeout of 1–5 s, an unban, or a filter (a pattern
// matching about one id in five, refusing or masking, or off).
func (g *gen) deploymentEvent(t testing.TB, id string, ts int64) *schemas.Event {
	target := fmt.Sprintf("user%d", g.rnd.IntN(30))
	var typ schemas.Type
	var data any
	switch k := g.rnd.IntN(20); {
	case k < 2:
		typ, data = schemas.ModBan, schemas.ModBanData{Target: target, Reason: "everywhere"}
	case k < 10:
		typ, data = schemas.ModTimeout, schemas.ModTimeoutData{Target: target, Seconds: 1 + g.rnd.IntN(5)}
	case k < 17:
		typ, data = schemas.ModUnban, schemas.ModUnbanData{Target: target}
	default:
		f := schemas.ModFiltersData{Words: []string{}, Action: []string{schemas.FilterRefuse, schemas.FilterMask}[g.rnd.IntN(2)]}
		if g.rnd.IntN(3) > 0 {
			f.Patterns = []string{`ev.*[26]`} // digits 2 and 6 are not folded (schemas.FilterFold)
			f.Words = []string{"nothing"}
		}
		typ, data = schemas.ModFilters, f
	}
	return ev(t, id, g.deployment, "admin", typ, ts, data)
}

// TestDeploymentKillKafka is the exactly-once proof of deployment-wide
// moderation on real Kafka: two `ovation process` processes fold 20,000
// events over 8 rooms in 4 partitions, with room moderation and, in the
// deployment room, bans, timeouts, unbans and word filters (refusing and
// masking) of the same users, while one process is SIGKILLed and
// restarted every 2 s; half-way room1 is rebuilt into a new epoch. The
// model reads the events topic afterwards, partition by partition in
// offset order, applies each copy to its partition's table at its
// position and folds every room's events by it (the position rule). In
// the end every room's frames (the rebuilt room's new epoch included) and
// latest snapshot equal the model's fold; no frame ever showed a line of
// a refused event; ClickHouse's participants, events per type and chat
// history agree, and the deployment room's audit trail lists every
// deployment-wide ban, timeout and unban.
func TestDeploymentKillKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	bin := buildOvation(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 4, 1)
	get := startAnalytics(t, brokers, chAddr, tp)

	g := newGen(1515, 8)
	g.moderation = true
	g.deployment = schemas.DefaultDeploymentRoom
	ts := time.Now().UnixMilli()
	const n = 20_000
	evs := make([]*schemas.Event, 0, n)
	for i := range n {
		evs = append(evs, g.next(t, ts+int64(i)))
	}
	group := "depkill-" + tp.Events
	procs := []*proc{newProc(t, bin, "a", brokers, tp, group), newProc(t, bin, "b", brokers, tp, group)}
	for _, p := range procs {
		p.start()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	kills := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
			}
			p := procs[i%2]
			p.kill()
			kills++
			t.Logf("SIGKILL %s (kill %d)", p.name, kills)
			p.start()
		}
	}()
	if err := produceSteady(t, brokers, tp.Events, evs[:n/2], 2000); err != nil {
		t.Fatal(err)
	}
	cl := kafkatest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := RebuildRequest{Room: "room1", Epoch: "rebuilt-room1", FromOffset: -1}
	if err := cl.ProduceSync(ctx, req.Record(tp.Events)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := produceSteady(t, brokers, tp.Events, evs[n/2:], 2000); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	waitCaughtUp(t, brokers, group, tp.Events, 120*time.Second)

	lf := foldLog(t, brokers, tp.Events)
	m, deps, copies, roomPart, afterClose := lf.m, lf.deps, lf.copies, lf.roomPart, lf.afterClose
	// Every partition got every copy, in the same order.
	deployed := 0
	for _, e := range evs {
		if e.Room == schemas.DefaultDeploymentRoom {
			deployed++
		}
	}
	for p := range int32(4) {
		if copies[p] != copies[0] || copies[p] == 0 {
			t.Fatalf("copies per partition: %v", copies)
		}
	}
	frames := verifyOutput(t, brokers, tp, m)
	rebuilt := false
	for _, r := range frames.records {
		f, err := schemas.UnmarshalFrame(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if f.Epoch == "rebuilt-room1" && f.Seq == 1 {
			rebuilt = true
		}
		mr := m.rooms[f.Room]
		refused := func(user, id string) bool { k := user + "\x00" + id; return mr.refusedIDs[k] && !mr.seen[k] }
		for _, l := range f.Delta.Chat {
			if refused(l.User, l.ID) {
				t.Fatalf("room %s frame %d shows refused line %s of %s", f.Room, f.Seq, l.ID, l.User)
			}
		}
		for id, q := range f.Delta.Questions {
			if q.Text != "" && refused(q.User, id) {
				t.Fatalf("room %s frame %d shows refused question %s of %s", f.Room, f.Seq, id, q.User)
			}
		}
	}
	if !rebuilt {
		t.Fatal("room1 was not rebuilt into epoch rebuilt-room1")
	}
	checkAnalytics(t, get, evs, m, afterClose, frames)
	// The audit trail of the deployment room lists every deployment-wide
	// ban, timeout, unban and filter change once, with who and whom.
	wantAudit := map[string]bool{}
	for _, e := range evs {
		if e.Room == schemas.DefaultDeploymentRoom {
			wantAudit[e.ID] = true // filter changes too (their target is empty)
		}
	}
	gotAudit := map[string]bool{}
	for cursor := ""; ; {
		var page analytics.AuditPage
		path := "/v1/rooms/" + schemas.DefaultDeploymentRoom + "/analytics/moderation?limit=500"
		if cursor != "" {
			path += "&before=" + url.QueryEscape(cursor)
		}
		if !get(path, &page) {
			t.Fatal("no audit trail for the deployment room")
		}
		for _, a := range page.Actions {
			if !wantAudit[a.ID] || gotAudit[a.ID] || a.By != "admin" || (a.Target == "") != (a.Type == string(schemas.ModFilters)) {
				t.Fatalf("deployment audit entry %+v: not one of the deployment room's actions, or listed twice", a)
			}
			gotAudit[a.ID] = true
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(gotAudit) != len(wantAudit) {
		t.Fatalf("the deployment room's audit trail lists %d actions, want %d", len(gotAudit), len(wantAudit))
	}
	var hits, filtered, masked int
	for _, d := range deps {
		hits, filtered, masked = hits+d.hits, filtered+d.filtered, masked+d.masked
	}
	parts := map[int32][]string{}
	for room, p := range roomPart {
		parts[p] = append(parts[p], room)
	}
	if kills < 3 || hits == 0 || filtered == 0 || masked == 0 || len(parts) < 3 {
		t.Fatalf("%d kills, %d refused by deployment sanctions, %d filtered, %d masked, rooms by partition %v: the test did not exercise what it claims", kills, hits, filtered, masked, parts)
	}
	t.Logf("%d SIGKILLs; %d events (%d deployment-wide, %d copies in each of 4 partitions); rooms by partition %v; refused by deployment sanctions after their copy %d, refused by the deployment filter %d, masked %d; none counted or shown", kills, n, deployed, copies[0], parts, hits, filtered, masked)
}

// logFold is the model's fold of an events topic as the processors read
// it, partition by partition in offset order: a deployment copy changes
// its partition's table at its offset, and every event is judged by its
// partition's table as it is then (the position rule).
type logFold struct {
	m          *model
	deps       map[int32]*mdep
	copies     map[int32]int
	roomPart   map[string]int32
	afterClose map[string]bool
}

func foldLog(t *testing.T, brokers []string, topic string) logFold {
	t.Helper()
	lf := logFold{m: newModel(), deps: map[int32]*mdep{}, copies: map[int32]int{}, roomPart: map[string]int32{}, afterClose: map[string]bool{}}
	m := lf.m
	for _, r := range readAll(t, brokers, topic).records {
		if action, ok := controlOf(r); ok {
			if action == schemas.ControlDeployment {
				c, err := schemas.ParseDeploymentCopy(r.Value, schemas.DefaultDeploymentRoom)
				if err != nil {
					t.Fatalf("copy at %d/%d: %v", r.Partition, r.Offset, err)
				}
				if lf.deps[r.Partition] == nil {
					lf.deps[r.Partition] = &mdep{}
				}
				lf.deps[r.Partition].apply(t, &c)
				lf.copies[r.Partition]++
			}
			continue
		}
		e, err := schemas.ParseEvent(r.Value)
		if err != nil {
			t.Fatalf("event at %d/%d: %v", r.Partition, r.Offset, err)
		}
		lf.roomPart[e.Room] = r.Partition
		if mr := m.rooms[e.Room]; mr != nil && mr.closed && !mr.seen[e.User+"\x00"+e.ID] {
			lf.afterClose[e.Room+"\x00"+e.User+"\x00"+e.ID] = true
		}
		m.dep = lf.deps[r.Partition]
		if d := m.dep; d != nil && e.Type != schemas.Presence {
			if s, ok := d.sanctions[e.User]; ok && (s.Until == 0 || e.TS < s.Until) && m.rooms[e.Room] != nil && !m.rooms[e.Room].seen[e.User+"\x00"+e.ID] {
				d.hits++
			}
		}
		m.apply(&e)
	}
	return lf
}

// TestDeploymentRebuildStash: a deployment ban whose copy lands while a
// room's rebuild is reading its history (slowed past the transaction
// timeout) applies to the room's stashed events after the copy, not to
// those before it: the rebuilt room refuses the banned user's lines
// after the copy and keeps the line before it, as the log's order says.
func TestDeploymentRebuildStash(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := testTopics(t)
	createTopics(t, brokers, tp, 1, 1)
	group := "deprebuild-" + tp.Events
	reg := prometheus.NewRegistry()
	cfg := Config{Brokers: brokers, Topics: tp, Group: group, TransactionalID: group, Log: testLogger(t), Registerer: reg,
		SessionTimeout: 6 * time.Second, TransactionTimeout: 2 * time.Second, testReadDelay: 4 * time.Second,
		DeploymentRoom: schemas.DefaultDeploymentRoom}
	runProcessor(t, cfg)
	now := time.Now().UnixMilli()
	chat := func(id, user, text string) *schemas.Event {
		return ev(t, id, "rebuilt", user, schemas.ChatMessage, now, schemas.ChatMessageData{Text: text})
	}
	var history []*schemas.Event
	for i := range 50 {
		history = append(history, chat(fmt.Sprintf("h%d", i), fmt.Sprintf("u%d", i%5), fmt.Sprintf("line %d", i)))
	}
	produceEvents(t, brokers, tp.Events, history)
	waitCaughtUp(t, brokers, group, tp.Events, 30*time.Second)

	cl := kafkatest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := RebuildRequest{Room: "rebuilt", Epoch: "stash-epoch", FromOffset: -1}
	if err := cl.ProduceSync(ctx, req.Record(tp.Events)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// During the slowed read: a line of u1 before the ban, the ban in the
	// deployment room (folded at once: it is not the room being rebuilt),
	// then, once its copy is in the log, more lines of u1 and one of u2.
	produceEvents(t, brokers, tp.Events, []*schemas.Event{chat("before", "u1", "before the ban"),
		ev(t, "ban-u1", schemas.DefaultDeploymentRoom, "admin", schemas.ModBan, now, schemas.ModBanData{Target: "u1"})})
	time.Sleep(time.Second)
	produceEvents(t, brokers, tp.Events, []*schemas.Event{chat("after1", "u1", "after the ban"), chat("after2", "u1", "still banned"), chat("other", "u2", "not banned")})
	if metricValue(reg, "ovation_processor_rebuilds_total", "") != 0 {
		t.Fatal("the rebuild ended before the events it should have stashed came")
	}
	deadline := time.Now().Add(60 * time.Second)
	for metricValue(reg, "ovation_processor_rebuilds_total", "") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the rebuild never completed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitCaughtUp(t, brokers, group, tp.Events, 30*time.Second)
	lf := foldLog(t, brokers, tp.Events)
	if lf.copies[0] != 1 {
		t.Fatalf("%d copies in the partition, want 1", lf.copies[0])
	}
	frames := verifyOutput(t, brokers, tp, lf.m)
	var texts []string
	epoch := ""
	for _, r := range frames.records {
		f, _ := schemas.UnmarshalFrame(r.Value)
		if f.Room != "rebuilt" {
			continue
		}
		epoch = f.Epoch
		for _, l := range f.Delta.Chat {
			texts = append(texts, l.Text)
		}
	}
	if epoch != "stash-epoch" {
		t.Fatalf("the room's last epoch is %q", epoch)
	}
	for _, want := range []string{"before the ban", "not banned"} {
		if !slices.Contains(texts, want) {
			t.Fatalf("the rebuilt room lost %q: %v", want, texts)
		}
	}
	for _, not := range []string{"after the ban", "still banned"} {
		if slices.Contains(texts, not) {
			t.Fatalf("the rebuilt room shows %q, a line of u1 after the ban's copy", not)
		}
	}
	if lf.deps[0].hits != 2 {
		t.Fatalf("the model refused %d lines of u1, want 2", lf.deps[0].hits)
	}
}
