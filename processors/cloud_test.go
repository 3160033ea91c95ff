package processors

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// TestWordCloudMillion feeds a cloud poll 1,000,000 words from 50,000
// users (four answers of five words each, Zipf-distributed over a
// 20,000-word vocabulary, in random case, full width and punctuation,
// with repeats a user's later answers must not count again) and checks
// the top 50 in the public state against a count made here from the
// words as generated, after every frame folded and after a restore from
// the changelog. It reports the state's sizes: the snapshot (the public
// state, what every viewer receives) stays at the CloudTop words however
// many come, and the processor's private table is bounded by
// schemas.MaxCloudWords words and MaxCloudAnswers answers per user.
func TestWordCloudMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 words")
	}
	const (
		users   = 50_000
		answers = 4
		perAns  = 5
		vocab   = 20_000
	)
	cfg := testConfig()
	h := newHarness(t, cfg)
	must := func(e *schemas.Event) {
		if o, why := h.apply(e); o != Applied {
			t.Fatalf("%s %s: %v %s", e.Type, e.ID, o, why)
		}
	}
	must(ev(t, "open", "r", "host", schemas.PollOpen, h.now, schemas.PollOpenData{PollID: "c", Question: "One word?", Kind: schemas.PollCloud, StopWords: []string{"en"}}))
	rnd := rand.New(rand.NewPCG(16, 4))
	zipf := rand.NewZipf(rnd, 1.1, 4, vocab-1)
	spell := func(w string) string {
		switch rnd.IntN(4) {
		case 0:
			return strings.ToUpper(w)
		case 1:
			// Full width: U+FF01..U+FF5E mirror ASCII.
			var b strings.Builder
			for _, r := range w {
				b.WriteRune(r - 0x21 + 0xFF01)
			}
			return b.String()
		case 2:
			return strings.ToUpper(w[:1]) + w[1:] + "!"
		}
		return w
	}
	seen := map[string]map[string]bool{} // word → users
	words := 0
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	for a := range answers {
		for u := range users {
			user := fmt.Sprintf("user-%05d", u)
			var parts []string
			for range perAns {
				w := fmt.Sprintf("w%d", zipf.Uint64())
				if rnd.IntN(20) == 0 {
					w = "the" // a stop word: never counted
				} else {
					if seen[w] == nil {
						seen[w] = map[string]bool{}
					}
					seen[w][user] = true
				}
				parts = append(parts, spell(w))
				words++
			}
			must(ev(t, fmt.Sprintf("a%d", a), "r", user, schemas.PollTextAnswer, h.now, schemas.PollTextData{PollID: "c", Answer: strings.Join(parts, ", ")}))
			if n++; n%2000 == 0 {
				h.flush()
			}
		}
	}
	h.flush()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	var want []schemas.WordCount
	for w, us := range seen {
		want = append(want, schemas.WordCount{Word: w, Count: int64(len(us))})
	}
	slices.SortFunc(want, func(a, b schemas.WordCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Word, b.Word))
	})
	want = want[:schemas.CloudTop]
	got := h.p.rooms["r"].pub.Polls["c"]
	if !slices.Equal(got.Words, want) {
		t.Fatalf("top %d\n got %v\nwant %v", schemas.CloudTop, got.Words, want)
	}
	if got.Voters != users {
		t.Fatalf("voters %d, want %d", got.Voters, users)
	}
	h.checkFold()
	snap, _ := schemas.MarshalSnapshot(&schemas.Snapshot{Room: "r", Epoch: "e", Seq: 1, State: h.p.rooms["r"].pub})
	// A restore rebuilds the same cloud from the changelog.
	h.p = h.restored()
	rc := h.p.rooms["r"].polls["c"].cloud
	if !slices.Equal(rc.top, want) || !slices.Equal(h.p.rooms["r"].pub.Polls["c"].Words, want) {
		t.Fatalf("after restore: top %v", rc.top)
	}
	// The cloud's private state, counted: each user's words (string
	// headers into the answer text, which they keep alive) and the word
	// table, with Go's map overhead taken as 2x.
	priv := 0
	for u, ws := range rc.users {
		priv += 2*(len(u)+16+24) + cap(ws)*16
		for _, w := range ws {
			priv += len(w)
		}
	}
	for w := range rc.counts {
		priv += 2 * (len(w) + 16 + 8)
	}
	var clBytes int
	for _, r := range h.changelog {
		clBytes += len(r.Key) + len(r.Value)
	}
	t.Logf("%d words from %d users (%d distinct after normalisation): top-%d exact, first %s×%d; snapshot %d bytes; cloud private state ~%.1f MB (word table %d words, %d users; heap +%.1f MB with the harness's records); changelog written %.1f MB over %d frames",
		words, users, len(rc.counts), schemas.CloudTop, want[0].Word, want[0].Count, len(snap),
		float64(priv)/1e6, len(rc.counts), len(rc.users), float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6, float64(clBytes)/1e6, len(h.frames))
	if len(snap) > 8<<10 {
		t.Fatalf("the snapshot of a cloud room is %d bytes, documented under 8 KiB", len(snap))
	}
}

// TestCloudWordFilter: the room's word filter applies to poll answers
// before they are counted: refused answers count nothing, masked words
// are not cloud words, and an open-text answer shows masked.
func TestCloudWordFilter(t *testing.T) {
	for _, action := range []string{schemas.FilterRefuse, schemas.FilterMask} {
		h := newHarness(t, nil)
		must := func(e *schemas.Event) (Outcome, Reason) { return h.apply(e) }
		must(ev(t, "f", "r", "mod", schemas.ModFilters, h.now, schemas.ModFiltersData{Words: []string{"idiot"}, Action: action}))
		must(ev(t, "c", "r", "host", schemas.PollOpen, h.now, schemas.PollOpenData{PollID: "c", Question: "q", Kind: schemas.PollCloud}))
		must(ev(t, "t", "r", "host", schemas.PollOpen, h.now, schemas.PollOpenData{PollID: "t", Question: "q", Kind: schemas.PollOpenText}))
		o1, why1 := must(ev(t, "a1", "r", "ann", schemas.PollTextAnswer, h.now, schemas.PollTextData{PollID: "c", Answer: "great IDIOT talk"}))
		o2, _ := must(ev(t, "a2", "r", "ann", schemas.PollTextAnswer, h.now, schemas.PollTextData{PollID: "t", Answer: "what an idiot"}))
		must(ev(t, "a3", "r", "bob", schemas.PollTextAnswer, h.now, schemas.PollTextData{PollID: "c", Answer: "great"}))
		h.flush()
		p := h.p.rooms["r"].pub.Polls
		words := fmt.Sprint(p["c"].Words)
		switch action {
		case schemas.FilterRefuse:
			if o1 != Ignored || why1 != ReasonFiltered || o2 != Ignored || words != "[{great 1}]" || len(p["t"].Texts) != 0 {
				t.Fatalf("refuse: %v %s / %v; cloud %s; texts %v", o1, why1, o2, words, p["t"].Texts)
			}
		case schemas.FilterMask:
			if o1 != Applied || o2 != Applied || words != "[{great 2} {talk 1}]" || len(p["t"].Texts) != 1 || strings.Contains(p["t"].Texts[0].Text, "idiot") {
				t.Fatalf("mask: %v / %v; cloud %s; texts %v", o1, o2, words, p["t"].Texts)
			}
		}
		h.checkFold()
	}
}
