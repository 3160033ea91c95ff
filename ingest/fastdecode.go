package ingest

import "github.com/ovation-live/ovation/schemas"

// decodeEnvelope fills ce from raw as json.Parse(raw, ce, strictJSON)
// would with no error and no trailing data, for the common event: an
// object of plain members (no escapes, schemas.Members) with only the
// keys v (an integer), id, type, room (strings) and data (an object).
// It reports false for anything else (user, ts, an unknown key, null, a
// float, an escape, ...), and the caller decodes raw with the codec,
// which gives those their exact errors. raw must have passed CheckShape
// (or SplitBatch): data's insides are skipped, not checked, here.
// FuzzFastEnvelope holds it equal to the codec.
//
// When the type comes before the data and has a fast body decoder, the
// body is decoded while data is read (schemas.Members.NextWithBody), into
// ce.body from bodies, so it is not read again. A key given twice gives
// up (the codec keeps the last, and prepare refuses the event anyway).
func decodeEnvelope(raw []byte, ce *clientEvent, borrow bool, bodies *schemas.Bodies) bool {
	var m schemas.Members
	if !m.Begin(raw, true) {
		return false
	}
	var seen [5]bool
	for {
		key, val, body, done, ok := m.NextWithBody(ce.Type, bodies, borrow)
		if !ok {
			return false
		}
		if done {
			return true
		}
		k := envelopeKey(key)
		if k < 0 || seen[k] {
			return false
		}
		seen[k] = true
		switch string(key) {
		case "v":
			n, ok := schemas.PlainInt(val)
			if !ok {
				return false
			}
			ce.v = n
			ce.V = &ce.v
		case "id":
			if ce.ID, ok = schemas.PlainString(val, borrow); !ok {
				return false
			}
		case "type":
			s, ok := schemas.PlainString(val, borrow)
			if !ok {
				return false
			}
			ce.Type = schemas.Type(s)
		case "room":
			if ce.room, ok = schemas.PlainString(val, borrow); !ok {
				return false
			}
			ce.Room = &ce.room
		case "data":
			if val[0] != '{' {
				return false
			}
			ce.Data, ce.body = val, body
		}
	}
}

// envelopeKey numbers the keys decodeEnvelope reads, or -1.
func envelopeKey(key []byte) int {
	switch string(key) {
	case "v":
		return 0
	case "id":
		return 1
	case "type":
		return 2
	case "room":
		return 3
	case "data":
		return 4
	}
	return -1
}
