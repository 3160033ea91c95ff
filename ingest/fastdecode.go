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
func decodeEnvelope(raw []byte, ce *clientEvent, borrow bool) bool {
	var m schemas.Members
	if !m.Begin(raw, true) {
		return false
	}
	for {
		key, val, done, ok := m.Next()
		if !ok {
			return false
		}
		if done {
			return true
		}
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
			ce.Data = val
		default:
			return false
		}
	}
}
