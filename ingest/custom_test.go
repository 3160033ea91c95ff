package ingest

import (
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestCustomTypes: ingest accepts a registered custom type, checks its
// data against the type's JSON Schema and its capability, refuses a
// custom type it was not given, and writes exactly what the registry
// parses back.
func TestCustomTypes(t *testing.T) {
	g, err := schemas.ParseRegistry([]byte(`
types:
  - name: custom.hype
    fold: counter
    key: level
    keys: [fire, wow]
    schema: {type: object, properties: {level: {type: string}}, required: [level], additionalProperties: false}
  - name: custom.song
    fold: register
    key: slot
    capability: host
    schema: {type: object, properties: {slot: {type: string}, song: {type: string, maxLength: 10}}, required: [slot, song]}
`))
	if err != nil {
		t.Fatal(err)
	}
	topic := "ovation.events"
	fake := newFake(t, 1, topic)
	r := newRig(t, fake.ListenAddrs(), topic, Config{Custom: g})
	plain := newRig(t, fake.ListenAddrs(), topic, Config{})
	hc := r.srv.Client()
	pub := pubToken(t, "ann", "show")
	host := token(t, "hal", map[string][]schemas.Capability{"show": {schemas.CapPublish, schemas.CapHost}}, time.Hour)
	cases := []struct {
		name, tok, body string
		status          int
		code, field     string
	}{
		{"counter", pub, evt("custom.hype", `{"level": "fire"}`), 200, "", ""},
		{"a key the type does not list", pub, evt("custom.hype", `{"level":"boo"}`), 400, CodeInvalidEvent, "data.level"},
		{"a field the schema forbids", pub, evt("custom.hype", `{"level":"fire","x":1}`), 400, CodeInvalidEvent, "data"},
		{"register without host", pub, evt("custom.song", `{"slot":"next","song":"Jolene"}`), 403, CodeForbidden, "type"},
		{"register by the host", host, evt("custom.song", `{"slot":"next","song":"Jolene"}`), 200, "", ""},
		{"schema maxLength", host, evt("custom.song", `{"slot":"next","song":"Bohemian Rhapsody"}`), 400, CodeInvalidEvent, "data.song"},
		{"unregistered custom type", pub, evt("custom.nope", `{}`), 400, CodeInvalidEvent, "type"},
		{"a lone surrogate in the data", pub, evt("custom.hype", `{"level":"fire","x":"\ud800"}`), 400, CodeInvalidEvent, "data.x"},
	}
	for _, c := range cases {
		rep := post(t, hc, r.url("show"), c.tok, []byte(c.body))
		if rep.status != c.status || rep.code() != c.code || rep.field() != c.field {
			t.Errorf("%s: %d %s %s, want %d %s %s (%s)", c.name, rep.status, rep.code(), rep.field(), c.status, c.code, c.field, rep.raw)
		}
	}
	// An ingest without the registry refuses the type.
	if rep := post(t, plain.srv.Client(), plain.url("show"), pub, []byte(evt("custom.hype", `{"level":"fire"}`))); rep.status != 400 || rep.field() != "type" {
		t.Errorf("no registry: %d %s", rep.status, rep.raw)
	}
	recs := readAll(t, r.brokers, topic)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for _, rec := range recs {
		e, err := g.ParseEvent(rec.Value)
		if err != nil {
			t.Fatalf("record %s: %v", rec.Value, err)
		}
		if _, ok := e.Body.(*schemas.CustomData); !ok {
			t.Fatalf("record %s: body %T", rec.Value, e.Body)
		}
	}
}
