package schemas

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// customDelta adds custom-type changes to a model delta (TestMergeLaw):
// a type's fold and title come with its first change; counts add and
// register values replace.
// customModel is the custom types' part of a roomModel, with its own
// random source so the other kinds' deltas stay what they were.
type customModel struct {
	r    *rand.Rand
	seen map[string]bool
}

func (m *roomModel) customDelta(d *Delta) {
	if m.custom == nil {
		seed := m.r.Uint64()
		m.custom = &customModel{r: rand.New(rand.NewPCG(seed, 16)), seen: map[string]bool{}}
	}
	r := m.custom.r
	if r.IntN(3) != 0 {
		return
	}
	types := []struct{ name, fold string }{{"custom.hype", FoldCounter}, {"custom.song", FoldRegister}, {"custom.fans", FoldDistinct}}
	d.Custom = map[string]*CustomDelta{}
	for range r.IntN(3) + 1 {
		t := types[r.IntN(len(types))]
		cd := d.Custom[t.name]
		if cd == nil {
			cd = &CustomDelta{}
			d.Custom[t.name] = cd
		}
		if !m.custom.seen[t.name] {
			m.custom.seen[t.name] = true
			cd.Fold, cd.Title = t.fold, strings.ToUpper(t.name)
			if t.fold == FoldCounter {
				cd.Keys, cd.KeyField, cd.AmountField = []string{"a", "b", "c"}, "level", "n"
			}
		}
		key := []string{"a", "b", "c", "d"}[r.IntN(4)]
		switch t.fold {
		case FoldRegister:
			if cd.Values == nil {
				cd.Values = map[string]json.RawMessage{}
			}
			cd.Values[key] = json.RawMessage(fmt.Sprintf(`{"song":"s%d"}`, r.IntN(100)))
		default:
			if cd.Counts == nil {
				cd.Counts = map[string]int64{}
			}
			cd.Counts[key] += int64(r.IntN(5) + 1)
		}
	}
}

const testRegistry = `
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
        n: {type: integer, minimum: 1, maximum: 10}
      required: [level, n]
      additionalProperties: false
  - name: custom.song
    fold: register
    key: slot
    value: song
    max_value_bytes: 64
    capability: host
    schema:
      type: object
      properties:
        slot: {type: string, maxLength: 20}
        song: {type: string, maxLength: 40}
      required: [slot, song]
  - name: custom.fans
    fold: distinct
    key: team
    max_keys: 4
    schema: {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"]}
`

func TestParseRegistry(t *testing.T) {
	g, err := ParseRegistry([]byte(testRegistry))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Types()) != 3 || g.Type("custom.hype").Title != "Hype meter" || g.Type("custom.fans").Title != "custom.fans" {
		t.Fatalf("types %+v", g.Types())
	}
	if g.RequiredCapability("custom.song") != CapHost || g.RequiredCapability("custom.hype") != CapPublish || g.RequiredCapability(PollOpen) != CapHost {
		t.Fatal("capabilities")
	}
	var nilReg *Registry
	if nilReg.Type("custom.hype") != nil || nilReg.RequiredCapability(ChatMessage) != CapPublish {
		t.Fatal("nil registry")
	}
	bad := []struct{ doc, want string }{
		{`types: []`, "no types"},
		{`{"types": [{"name": "hype", "fold": "counter", "schema": {"type": "object"}}]}`, `name must be "custom."`},
		{`{"types": [{"name": "custom.Hype", "fold": "counter", "schema": {"type": "object"}}]}`, `name must be`},
		{`{"types": [{"name": "custom.h", "fold": "sum", "schema": {"type": "object"}}]}`, `fold "sum" is not one of counter, register, distinct`},
		{`{"types": [{"name": "custom.h", "schema": {"type": "object"}}]}`, `fold is missing`},
		{`{"types": [{"name": "custom.h", "fold": "counter"}]}`, `schema is missing`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "schema": {"type": "array"}}]}`, `"type": "object"`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "schema": {"type": "object", "properties": {"a": {"type": "strin"}}}}]}`, `schema does not compile`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "schema": {"type": "object", "$ref": "https://example.invalid/x.json"}}]}`, `only references inside the document`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "amount": "n", "schema": {"type": "object"}}]}`, `max_amount in 1-1000000`},
		{`{"types": [{"name": "custom.h", "fold": "register", "amount": "n", "max_amount": 2, "schema": {"type": "object"}}]}`, `amount is for fold counter only`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "value": "v", "schema": {"type": "object"}}]}`, `for fold register only`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "max_keys": 1000, "schema": {"type": "object"}}]}`, `max_keys 1000 is outside 1-256`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "keys": ["a"], "schema": {"type": "object"}}]}`, `keys needs key`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "key": "k", "keys": ["a", "a"], "schema": {"type": "object"}}]}`, `listed twice`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "capability": "system", "schema": {"type": "object"}}]}`, `capability "system"`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "colour": "red", "schema": {"type": "object"}}]}`, `unknown field`},
		{`{"types": [{"name": "custom.h", "fold": "counter", "schema": {"type": "object"}}, {"name": "custom.h", "fold": "counter", "schema": {"type": "object"}}]}`, `registered twice`},
		{"types: [\n  - name: x\n   fold", "not YAML or JSON"},
	}
	for _, c := range bad {
		_, err := ParseRegistry([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.doc, err, c.want)
		}
	}
}

func customEvent(typ, data string) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"id":"e1","room":"r","user":"u","type":%q,"ts":1,"data":%s}`, typ, data))
}

func TestCustomEvents(t *testing.T) {
	g, err := ParseRegistry([]byte(testRegistry))
	if err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		typ, data, key string
		amount         int64
		value          string
	}{
		{"custom.hype", `{"level": "fire", "n": 3}`, "fire", 3, ""},
		{"custom.song", `{"slot":"next","song":"Jolene <live>"}`, "next", 1, `"Jolene \u003clive\u003e"`},
		{"custom.fans", `{"team":"blue","extra":[1,2]}`, "blue", 1, ""},
	}
	for _, c := range ok {
		ev, err := g.ParseEvent(customEvent(c.typ, c.data))
		if err != nil {
			t.Fatalf("%s %s: %v", c.typ, c.data, err)
		}
		d := ev.Body.(*CustomData)
		if d.Key != c.key || d.Amount != c.amount || string(d.Value) != c.value || d.T != g.Type(Type(c.typ)) {
			t.Fatalf("%s: key %q amount %d value %s", c.typ, d.Key, d.Amount, d.Value)
		}
		// The body re-encodes to the compact data, so ingest writes what it checked.
		b, _ := ev.Marshal()
		again, err := g.ParseEvent(b)
		if err != nil || again.Body.(*CustomData).Key != c.key {
			t.Fatalf("%s: re-encoded %s: %v", c.typ, b, err)
		}
	}
	bad := []struct{ typ, data, field string }{
		{"custom.hype", `{"level": "fire"}`, "data"},
		{"custom.hype", `{"level": "fire", "n": 11}`, "data.n"},
		{"custom.hype", `{"level": "boo", "n": 1}`, "data.level"},
		{"custom.hype", `{"level": "fire", "n": 1, "x": 1}`, "data"},
		{"custom.song", `{"slot":"next","song":"` + strings.Repeat("x", 41) + `"}`, "data.song"},
		{"custom.song", `{"slot":"next","song":"` + strings.Repeat("<", 20) + `"}`, "data.song"},
		{"custom.fans", `{"team":""}`, "data.team"},
		{"custom.fans", `{"team":7}`, "data.team"},
		{"custom.fans", `[]`, "data"},
		{"custom.nope", `{}`, "type"},
	}
	for _, c := range bad {
		_, err := g.ParseEvent(customEvent(c.typ, c.data))
		ve, ok := AsValidationError(err)
		if !ok || ve.Field != c.field {
			t.Errorf("%s %s: got %v, want an error on %s", c.typ, c.data, err, c.field)
		}
	}
	// Without the registry a custom type is unknown.
	if _, err := ParseEvent(customEvent("custom.hype", `{"level": "fire", "n": 3}`)); err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Fatalf("no registry: %v", err)
	}
}

// FuzzCustomEvent: whatever the data, a custom event either parses into
// a key and amount within the type's limits or fails with a field error.
func FuzzCustomEvent(f *testing.F) {
	g, err := ParseRegistry([]byte(testRegistry))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{`{"level":"fire","n":3}`, `{"slot":"a","song":"b"}`, `{"team":"x"}`, `{"team":"\ud800"}`, `{"n":1e400}`} {
		f.Add(0, s)
		f.Add(1, s)
		f.Add(2, s)
	}
	f.Fuzz(func(t *testing.T, which int, data string) {
		types := g.Types()
		ct := types[(which%len(types)+len(types))%len(types)]
		raw := customEvent(string(ct.Name), data)
		// Ingest's path: the structure checks on the whole event, then
		// the body alone. What it accepts, it writes re-encoded, and every
		// consumer must parse that.
		if utf8.Valid(raw) && CheckShape(raw, EventShape) == nil && CheckDuplicateKeys(raw, EventShape.MaxDepth) == nil {
			in := Event{V: 1, ID: "e1", Room: "r", User: "u", Type: ct.Name, TS: 1, Data: []byte(data)}
			if in.ValidateBodyWith(g) == nil {
				b, _ := in.Marshal()
				if _, err := g.ParseEvent(b); err != nil {
					t.Fatalf("ingest accepts %s, consumers refuse %s: %v", data, b, err)
				}
			}
		}
		ev, err := g.ParseEvent(raw)
		if err != nil {
			if _, ok := AsValidationError(err); !ok {
				t.Fatalf("not a ValidationError: %v", err)
			}
			return
		}
		d := ev.Body.(*CustomData)
		if d.Key == "" || len(d.Key) > 4*MaxCustomKeyLen || d.Amount < 1 || (ct.MaxAmount > 0 && d.Amount > ct.MaxAmount) || len(d.Value) > ct.MaxValueBytes {
			t.Fatalf("out of limits: %+v", d)
		}
	})
}

// TestCustomDocExample keeps docs/custom.md true: its registry file
// parses, the event of its curl example is valid against it, and its
// state example decodes as RoomState.Custom.
func TestCustomDocExample(t *testing.T) {
	b, err := os.ReadFile("../docs/custom.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	yml := regexp.MustCompile("(?s)```yaml\n(.*?)\n```").FindStringSubmatch(doc)
	if yml == nil {
		t.Fatal("docs/custom.md has no yaml block")
	}
	g, err := ParseRegistry([]byte(yml[1]))
	if err != nil {
		t.Fatalf("the registry in docs/custom.md: %v", err)
	}
	if len(g.Types()) != 3 {
		t.Fatalf("%d types", len(g.Types()))
	}
	curl := regexp.MustCompile(`-d '(\{.*\})'`).FindStringSubmatch(doc)
	if curl == nil {
		t.Fatal("no curl example")
	}
	var in struct {
		Type Type            `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(curl[1]), &in); err != nil {
		t.Fatal(err)
	}
	ev := Event{V: 1, ID: "e1", Room: "show-1", User: "u", Type: in.Type, TS: 1, Data: in.Data}
	if err := ev.ValidateWith(g); err != nil {
		t.Fatalf("the curl example: %v", err)
	}
	st := regexp.MustCompile("(?s)```json\n\"custom\": (.*?)\n```").FindStringSubmatch(doc)
	if st == nil {
		t.Fatal("no state example")
	}
	var custom map[string]*Custom
	if err := decodeStrict([]byte(st[1]), &custom, "custom"); err != nil || len(custom) != 3 {
		t.Fatalf("the state example: %v", err)
	}
}
