package bench

import (
	"bytes"
	"strconv"
)

// The viewers read up to hundreds of thousands of frames a second on the
// same two cores as the pipeline they measure, so they do not decode whole
// frames: msgFields walks the top level of a server message once and keeps
// only what the measurement needs. Chat lines are decoded only when a frame
// has them.

// msgFields are the top-level fields of one server message (docs/protocol.md §4).
type msgFields struct {
	typ     []byte
	room    []byte
	epoch   []byte
	seq     uint64
	fromSeq uint64
	ts      int64
	delta   []byte // raw JSON of "delta", if present
	code    []byte // error code, if present
}

// scanMessage fills f from one JSON object. It returns false when b is not
// a JSON object it can walk.
func scanMessage(b []byte, f *msgFields) bool {
	*f = msgFields{}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return true
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			return false
		}
		kEnd := skipString(b, i)
		if kEnd < 0 {
			return false
		}
		key := b[i+1 : kEnd-1]
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		vEnd := skipValue(b, i)
		if vEnd < 0 {
			return false
		}
		val := b[i:vEnd]
		switch string(key) {
		case "type":
			f.typ = unquote(val)
		case "room":
			f.room = unquote(val)
		case "epoch":
			f.epoch = unquote(val)
		case "code":
			f.code = unquote(val)
		case "seq":
			f.seq, _ = strconv.ParseUint(string(val), 10, 64)
		case "from_seq":
			f.fromSeq, _ = strconv.ParseUint(string(val), 10, 64)
		case "ts":
			f.ts, _ = strconv.ParseInt(string(val), 10, 64)
		case "delta":
			f.delta = val
		}
		i = vEnd
	}
}

// chatTimestamps appends the ts of every chat line in a delta's "chat"
// array: a key "ts" directly inside each line object.
func chatTimestamps(delta []byte, out []int64) []int64 {
	idx := bytes.Index(delta, []byte(`"chat":[`))
	if idx < 0 {
		return out
	}
	i := idx + len(`"chat":[`)
	for {
		i = skipWS(delta, i)
		if i >= len(delta) || delta[i] == ']' {
			return out
		}
		if delta[i] == ',' {
			i++
			continue
		}
		end := skipValue(delta, i)
		if end < 0 {
			return out
		}
		var lf msgFields
		if scanMessage(delta[i:end], &lf) && lf.ts > 0 {
			out = append(out, lf.ts)
		}
		i = end
	}
}

func unquote(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		return j
	}
}
