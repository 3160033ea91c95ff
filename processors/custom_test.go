package processors

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

const customRegistry = `
types:
  - name: custom.hype
    title: Hype meter
    fold: counter
    key: level
    keys: [fire, clap, wow]
    amount: n
    max_amount: 10
    schema:
      type: object
      properties:
        level: {type: string}
        n: {type: integer}
      required: [level, n]
  - name: custom.song
    fold: register
    key: slot
    value: song
    max_keys: 3
    schema:
      type: object
      properties:
        slot: {type: string}
        song: {type: string, maxLength: 40}
      required: [slot, song]
  - name: custom.fans
    fold: distinct
    key: team
    max_keys: 4
    schema: {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"]}
  - name: custom.big
    fold: register
    key: k
    max_keys: 256
    max_value_bytes: 1024
    schema: {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}
`

func customConfig(t testing.TB) *Config {
	cfg := testConfig()
	g, err := schemas.ParseRegistry([]byte(customRegistry))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Custom = g
	return cfg
}

// cev builds a valid custom event with the registry of cfg.
func cev(t testing.TB, cfg *Config, id, room, user string, typ schemas.Type, ts int64, data string) *schemas.Event {
	t.Helper()
	b := fmt.Appendf(nil, `{"v":1,"id":%q,"room":%q,"user":%q,"type":%q,"ts":%d,"data":%s}`, id, room, user, typ, ts, data)
	e, err := cfg.Custom.ParseEvent(b)
	if err != nil {
		t.Fatalf("event %s does not validate: %v", b, err)
	}
	return &e
}

// TestCustomFold: each fold kind, its limits and its refusals, then the
// same state after a restore from the changelog.
func TestCustomFold(t *testing.T) {
	cfg := customConfig(t)
	h := newHarness(t, cfg)
	n := 0
	step := func(user string, typ schemas.Type, data string, want Outcome, why Reason) {
		t.Helper()
		n++
		o, r := h.apply(cev(t, cfg, fmt.Sprint("e", n), "r", user, typ, int64(1000+n), data))
		if o != want || r != why {
			t.Fatalf("%s %s by %s: %v %q, want %v %q", typ, data, user, o, r, want, why)
		}
	}
	step("a", "custom.hype", `{"level":"fire","n":3}`, Applied, "")
	step("a", "custom.hype", `{"level":"fire","n":2}`, Applied, "")
	step("b", "custom.hype", `{"level":"wow","n":10}`, Applied, "")
	step("a", "custom.song", `{"slot":"next","song":"Jolene"}`, Applied, "")
	step("b", "custom.song", `{"slot":"next","song":"Africa"}`, Applied, "")
	step("b", "custom.song", `{"slot":"later","song":"Toto"}`, Applied, "")
	step("b", "custom.song", `{"slot":"x","song":"y"}`, Applied, "")
	step("b", "custom.song", `{"slot":"z","song":"y"}`, DeadLettered, ReasonLimit) // max_keys 3
	step("a", "custom.fans", `{"team":"blue"}`, Applied, "")
	h.flush()
	step("a", "custom.fans", `{"team":"blue"}`, Ignored, ReasonAlreadyCounted)
	step("b", "custom.fans", `{"team":"blue"}`, Applied, "")
	step("a", "custom.fans", `{"team":"red"}`, Applied, "")
	h.flush()
	st, _, _, _ := h.p.RoomState("r")
	want := `{"custom.fans":{"fold":"distinct","title":"custom.fans","key_field":"team","counts":{"blue":2,"red":1}},` +
		`"custom.hype":{"fold":"counter","title":"Hype meter","keys":["fire","clap","wow"],"key_field":"level","amount_field":"n","counts":{"fire":5,"wow":10}},` +
		`"custom.song":{"fold":"register","title":"custom.song","key_field":"slot","values":{"later":"Toto","next":"Africa","x":"y"}}}`
	if got := js(st.Custom); got != want {
		t.Fatalf("custom state\n got %s\nwant %s", got, want)
	}
	h.checkFold()
	// A restored partition has the same state and still knows who counted.
	h.p = h.restored()
	st2, _, _, _ := h.p.RoomState("r")
	if js(st2.Custom) != want {
		t.Fatalf("restored: %s", js(st2.Custom))
	}
	step("b", "custom.fans", `{"team":"blue"}`, Ignored, ReasonAlreadyCounted)
	step("c", "custom.fans", `{"team":"blue"}`, Applied, "")
	step("c", "custom.song", `{"slot":"z","song":"y"}`, DeadLettered, ReasonLimit)
	h.flush()
	h.checkFold()
}

// TestCustomBudget: a room's custom state stops at MaxCustomStateBytes
// (limit), and the worst case stays within WorstCaseStateBytes.
func TestCustomBudget(t *testing.T) {
	cfg := customConfig(t)
	cfg.MaxRecordBytes = schemas.TopicMaxMessageBytes - schemas.RecordOverheadBytes
	h := newHarness(t, cfg)
	accepted := fillCustom(t, h, "r")
	h.flush()
	st, _, _, _ := h.p.RoomState("r")
	b, _ := json.Marshal(st.Custom)
	t.Logf("custom state: %d keys, %d bytes encoded, budget %d", accepted, len(b), schemas.MaxCustomStateBytes)
	if accepted == 0 || accepted == 300 || len(b) > worstCustomBytes() {
		t.Fatalf("%d keys accepted, %d bytes: the budget %d does not hold", accepted, len(b), worstCustomBytes())
	}
	if r := h.p.rooms["r"]; r.customBytes > schemas.MaxCustomStateBytes || r.customBytes < len(b) {
		t.Fatalf("room's custom bound %d vs encoded %d", r.customBytes, len(b))
	}
}

// fillCustom fills room's custom state to its budget with the largest,
// most escaped register values (when the harness has a registry).
func fillCustom(t testing.TB, h *harness, room string) int {
	if h.cfg.Custom == nil {
		return 0
	}
	val := strings.Repeat("<", 95) // the whole data is the value: about 1,000 bytes escaped
	for i := range 300 {
		key := fmt.Sprintf("%03d", i) + strings.Repeat("<", schemas.MaxCustomKeyLen-3)
		e := cev(t, h.cfg, fmt.Sprint("custom", i), room, "u", "custom.big", 1, fmt.Sprintf(`{"k":%q,"v":%q}`, key, val))
		if o, why := h.apply(e); o != Applied {
			if why != ReasonLimit {
				t.Fatalf("key %d: %v %s", i, o, why)
			}
			return i
		}
	}
	t.Fatal("the custom budget let 300 keys of 1 KiB in")
	return 0
}

// customModel recounts custom state from the accepted events.
type customModel struct {
	counts map[string]map[string]int64           // room/type → key → count
	values map[string]map[string]json.RawMessage // room/type → key → value
	users  map[string]map[string]bool            // room/type/key → users
}

func (m *customModel) apply(e *schemas.Event) {
	d := e.Body.(*schemas.CustomData)
	rt := e.Room + "/" + string(e.Type)
	switch d.T.Fold {
	case schemas.FoldCounter:
		if m.counts[rt] == nil {
			m.counts[rt] = map[string]int64{}
		}
		m.counts[rt][d.Key] += d.Amount
	case schemas.FoldRegister:
		m.values[rt][d.Key] = d.Value
	case schemas.FoldDistinct:
		k := rt + "/" + d.Key
		if m.users[k] == nil {
			m.users[k] = map[string]bool{}
		}
		m.users[k][e.User] = true
	}
}

// FuzzCustomFold is the fuzzed fold of custom types: random events of
// every kind in two rooms with flushes, evictions and restores; every
// room's custom state equals a recount of the accepted events, the fold
// of its frames equals its state, and what the core refuses the model
// explains (already counted, over max_keys).
func FuzzCustomFold(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{2, 2, 2, 9, 2, 2, 10, 2, 1, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		runCustomFold(t, ops)
	})
}

// TestCustomFoldAgainstModel runs the fuzzed fold on longer random inputs.
func TestCustomFoldAgainstModel(t *testing.T) {
	for seed := range 4 {
		ops := make([]byte, 2000)
		x := uint32(seed*7919 + 1)
		for i := range ops {
			x = x*1664525 + 1013904223
			ops[i] = byte(x >> 24)
		}
		runCustomFold(t, ops)
	}
}

func runCustomFold(t *testing.T, ops []byte) {
	cfg := customConfig(t)
	cfg.CheckpointMinBytes = 256
	cfg.MaxFrameBytes = 2048
	cfg.RoomIdle = time.Minute
	cfg.DedupWindow = 24 * time.Hour
	h := newHarness(t, cfg)
	m := &customModel{counts: map[string]map[string]int64{}, values: map[string]map[string]json.RawMessage{}, users: map[string]map[string]bool{}}
	keysOf := map[string]map[string]bool{} // room/type → keys
	at := func(i int) byte {
		if i < len(ops) {
			return ops[i]
		}
		return 0
	}
	for i := 0; i < len(ops); i++ {
		b, p := ops[i], at(i+1)
		room := fmt.Sprintf("r%d", p%2)
		user := fmt.Sprintf("u%d", (p>>1)%5)
		var typ schemas.Type
		var data string
		switch b % 8 {
		case 0, 1:
			typ, data = "custom.hype", fmt.Sprintf(`{"level":%q,"n":%d}`, []string{"fire", "clap", "wow"}[p%3], p%10+1)
		case 2, 3:
			typ, data = "custom.fans", fmt.Sprintf(`{"team":"t%d"}`, (p>>3)%6)
		case 4, 5:
			typ, data = "custom.song", fmt.Sprintf(`{"slot":"s%d","song":"v%d"}`, (p>>2)%5, i)
		case 6:
			h.flush()
			h.now += cfg.RoomIdle.Milliseconds() + 1
			h.flush()
			h.evict()
			i++
			continue
		case 7:
			h.flush()
			h.p = h.restored()
			i++
			continue
		}
		e := cev(t, cfg, fmt.Sprint("e", i), room, user, typ, h.now, data)
		o, why := h.apply(e)
		d := e.Body.(*schemas.CustomData)
		rt := room + "/" + string(typ)
		if m.values[rt] == nil {
			m.values[rt] = map[string]json.RawMessage{}
		}
		newKey := !keysOf[rt][d.Key]
		switch {
		case newKey && len(keysOf[rt]) >= d.T.MaxKeys:
			if o != DeadLettered || why != ReasonLimit {
				t.Fatalf("op %d: key %s past max_keys: %v %s", i, d.Key, o, why)
			}
		case d.T.Fold == schemas.FoldDistinct && m.users[rt+"/"+d.Key][user]:
			if o != Ignored || why != ReasonAlreadyCounted {
				t.Fatalf("op %d: second count of %s by %s: %v %s", i, d.Key, user, o, why)
			}
		default:
			if o != Applied {
				t.Fatalf("op %d: %s %s: %v %s", i, typ, data, o, why)
			}
			if keysOf[rt] == nil {
				keysOf[rt] = map[string]bool{}
			}
			keysOf[rt][d.Key] = true
			m.apply(e)
		}
		i++
	}
	h.flush()
	h.checkFold()
	for _, room := range []string{"r0", "r1"} {
		if _, ok := h.p.rooms[room]; !ok {
			continue // evicted: its state was checked on the way
		}
		st, _, _, _ := h.p.RoomState(room)
		for name, c := range st.Custom {
			rt := room + "/" + name
			switch c.Fold {
			case schemas.FoldCounter:
				if js(c.Counts) != js(m.counts[rt]) {
					t.Fatalf("%s counts %s, model %s", rt, js(c.Counts), js(m.counts[rt]))
				}
			case schemas.FoldRegister:
				if js(c.Values) != js(m.values[rt]) {
					t.Fatalf("%s values %s, model %s", rt, js(c.Values), js(m.values[rt]))
				}
			case schemas.FoldDistinct:
				for k, n := range c.Counts {
					if int64(len(m.users[rt+"/"+k])) != n {
						t.Fatalf("%s key %s: %d, model %d", rt, k, n, len(m.users[rt+"/"+k]))
					}
				}
			}
		}
	}
}
