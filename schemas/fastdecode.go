package schemas

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// The fast path of the decoders. Most events are flat objects of plain
// strings and small integers spelled without escapes, and the reflection
// codec spends more on finding its way through such an object than the
// object costs to read. For those, a hand-written scanner fills the same
// struct the codec would; for anything else (an escape, an unknown or
// differently cased key, null, a float, a nested value where a string
// belongs, a number over nine digits, malformed text), it gives up and the
// codec decodes the input from the start, so every refusal keeps its
// error, code and field exactly. The fast path only ever says "this is
// exactly what the codec would decode, with no error"; FuzzFastBody holds
// it to that against the codec on every input.

// Members reads the members of one JSON object spelled without escapes,
// for decoders that fall back to the codec when it gives up. Begin and
// Next return false as soon as the text is anything but an object of
// plain members: a backslash anywhere, a control character in a string,
// a value that is not a string, an integer-like number or (only when
// nested values are allowed) an object or array, space or data after the
// object. Nested values are skipped by their brackets and quotes, so the
// caller that allows them must know the text is valid JSON (it passed
// CheckShape); flat members are checked as they are read.
type Members struct {
	b      []byte
	i      int
	first  bool
	nested bool
	inner  bool // an object inside the text: it ends at its brace
}

// Begin starts reading b, which must be one object with optional space
// around it. nested allows object and array values (the caller vouches
// for the JSON grammar inside them).
func (m *Members) Begin(b []byte, nested bool) bool {
	if bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	*m = Members{b: b, i: skipSpace(b, i+1), first: true, nested: nested}
	return true
}

// Next returns the next member: its key (between the quotes) and its
// value (a string with its quotes, a number, or a nested value), or
// done at the end of the object, which must also be the end of the text
// (space aside). ok is false when the fast path must give up.
func (m *Members) Next() (key, val []byte, done, ok bool) {
	key, val, _, done, ok = m.NextWithBody("", nil, false)
	return key, val, done, ok
}

// NextWithBody is Next that also decodes the value of an event's "data"
// member as it reads it, when t (the event's type, read before it) has a
// fast path and the value is a plain body of it: body is then that body,
// filled from the same bytes as decodeFast would fill it, in a body from
// bodies, and the value is not read twice. Otherwise body is nil and
// val is what Next returns, for ValidateBody to decode.
func (m *Members) NextWithBody(t Type, bodies *Bodies, borrow bool) (key, val []byte, body Payload, done, ok bool) {
	b, i := m.b, m.i
	if i >= len(b) {
		return nil, nil, nil, false, false
	}
	if b[i] == '}' {
		if m.inner {
			m.i = i + 1
			return nil, nil, nil, true, true
		}
		if skipSpace(b, i+1) != len(b) {
			return nil, nil, nil, false, false
		}
		m.i = len(b)
		return nil, nil, nil, true, true
	}
	if !m.first {
		if b[i] != ',' {
			return nil, nil, nil, false, false
		}
		i = skipSpace(b, i+1)
	}
	m.first = false
	end, ok := plainStringEnd(b, i)
	if !ok {
		return nil, nil, nil, false, false
	}
	key = b[i+1 : end-1]
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, nil, false, false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) {
		return nil, nil, nil, false, false
	}
	start := i
	switch c := b[i]; {
	case c == '"':
		if i, ok = plainStringEnd(b, i); !ok {
			return nil, nil, nil, false, false
		}
	case c == '-' || c >= '0' && c <= '9':
		i++
		for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '+' || b[i] == '-') {
			i++
		}
	case (c == '{' || c == '[') && m.nested:
		if c == '{' && t != "" && string(key) == "data" && fastType(t) {
			if p, end, ok := decodeInner(b, i, t, bodies, borrow); ok {
				body, i = p, end
				break
			}
		}
		if i, ok = skipNested(b, i); !ok {
			return nil, nil, nil, false, false
		}
	default:
		return nil, nil, nil, false, false
	}
	val = b[start:i]
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ',' && b[i] != '}' {
		return nil, nil, nil, false, false
	}
	m.i = i
	return key, val, body, false, true
}

// decodeInner decodes the object at b[i] (in text Begin found no
// backslash in) as a plain body of type t, as decodeFast decodes it on
// its own, and returns it and the offset after its closing brace.
func decodeInner(b []byte, i int, t Type, bodies *Bodies, borrow bool) (Payload, int, bool) {
	p := bodies.payload(t)
	in := Members{b: b, i: skipSpace(b, i+1), first: true, inner: true}
	for {
		key, val, done, ok := in.Next()
		if !ok {
			return nil, 0, false
		}
		if done {
			break
		}
		if !setField(p, key, val, borrow) {
			return nil, 0, false
		}
	}
	if !utf8.Valid(b[i:in.i]) {
		return nil, 0, false
	}
	return p, in.i, true
}

// plainStringEnd returns the offset after the string that starts at b[i],
// which must be a quote, when the string holds no control character (and
// no backslash: Begin saw none).
func plainStringEnd(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	j := i + 1
	// Eight bytes at a time: the lowest flagged byte of specialMask is
	// the first quote, backslash or control character among them.
	for len(b)-j >= 8 {
		m := specialMask(binary.LittleEndian.Uint64(b[j:]))
		if m == 0 {
			j += 8
			continue
		}
		j += bits.TrailingZeros64(m) / 8
		return j + 1, b[j] == '"'
	}
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20 || c == '\\':
			return 0, false
		}
	}
	return 0, false
}

// specialMask sets the high bit of each byte of x that is a quote, a
// backslash or a control character (< 0x20). A bit may also be set
// above the lowest flagged byte that is not one of them (a borrow), never
// below it: the lowest set bit is exact, which is all plainStringEnd
// reads (and scanString in shape.go).
func specialMask(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	m := (x - ones*0x20) &^ x
	m |= (quote - ones) &^ quote
	m |= (backslash - ones) &^ backslash
	return m & highs
}

// skipNested returns the offset after the object or array at b[i], in
// text that is valid JSON without backslashes (so the brackets are
// balanced; strings are read as plainStringEnd reads them).
func skipNested(b []byte, i int) (int, bool) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			j, ok := plainStringEnd(b, i)
			if !ok {
				return 0, false
			}
			i = j - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// PlainString returns the contents of the string value v (as Next returns
// it) or false when v is not a string. With borrow the string points
// into v, as the codec's DontCopyString makes it; otherwise it is a copy.
func PlainString(v []byte, borrow bool) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	if !borrow || len(s) == 0 {
		return string(s), true
	}
	return unsafe.String(&s[0], len(s)), true
}

// PlainInt returns the integer value v (as Next returns it): JSON's
// integer grammar, at most nine digits (so it fits an int anywhere), not
// "-0". Anything else (a fraction, an exponent, a longer number, not a
// number) is false: the codec decides those.
func PlainInt(v []byte) (int, bool) {
	neg := len(v) > 0 && v[0] == '-'
	d := v
	if neg {
		d = v[1:]
	}
	if len(d) == 0 || len(d) > 9 || d[0] == '0' && (len(d) > 1 || neg) {
		return 0, false
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// decodeFast fills p from data, an object spelled without escapes, as
// decodeChecked(data, p, "data", false, flags) would with no error, and
// reports whether it could. Only the bodies of the most published types
// have a fast path; every other type, and every input this reads
// differently than plainly, goes to the codec.
func decodeFast(p Payload, data []byte, borrow bool) bool {
	if !fastBodyType(p) || !utf8.Valid(data) {
		return false
	}
	var m Members
	if !m.Begin(data, false) {
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
		if !setField(p, key, val, borrow) {
			return false
		}
	}
}

// fastType reports whether t's body has a fast path (fastBodyType).
func fastType(t Type) bool {
	switch t {
	case ChatMessage, Reaction, PollVote, QAUpvote, ChatDelete, QuizAnswer, QAAsk,
		PollClose, QuizReveal, QAAnswered, ReactionRemove, QARemove:
		return true
	}
	return false
}

func fastBodyType(p Payload) bool {
	switch p.(type) {
	case *ChatMessageData, *ReactionData, *PollVoteData, *QAUpvoteData, *ChatDeleteData,
		*QuizAnswerData, *QAAskData, *PollCloseData, *QuizRevealData, *QAAnsweredData,
		*ReactionRemoveData, *QARemoveData:
		return true
	}
	return false
}

// setField sets the field of p named key (exactly, as the codec's
// DontMatchCaseInsensitiveStructFields matches) from val.
func setField(p Payload, key, val []byte, borrow bool) bool {
	str := func(dst *string) bool {
		s, ok := PlainString(val, borrow)
		if ok {
			*dst = s
		}
		return ok
	}
	num := func(dst *int) bool {
		n, ok := PlainInt(val)
		if ok {
			*dst = n
		}
		return ok
	}
	switch d := p.(type) {
	case *ChatMessageData:
		switch string(key) {
		case "text":
			return str(&d.Text)
		case "name":
			return str(&d.Name)
		}
	case *ReactionData:
		if string(key) == "emoji" {
			return str(&d.Emoji)
		}
	case *ReactionRemoveData:
		if string(key) == "emoji" {
			return str(&d.Emoji)
		}
	case *PollVoteData:
		switch string(key) {
		case "poll_id":
			return str(&d.PollID)
		case "option":
			return num(&d.Option)
		}
	case *QuizAnswerData:
		switch string(key) {
		case "quiz_id":
			return str(&d.QuizID)
		case "option":
			return num(&d.Option)
		}
	case *QAUpvoteData:
		if string(key) == "question_id" {
			return str(&d.QuestionID)
		}
	case *QAAnsweredData:
		if string(key) == "question_id" {
			return str(&d.QuestionID)
		}
	case *QARemoveData:
		if string(key) == "question_id" {
			return str(&d.QuestionID)
		}
	case *ChatDeleteData:
		if string(key) == "message_id" {
			return str(&d.MessageID)
		}
	case *QAAskData:
		if string(key) == "text" {
			return str(&d.Text)
		}
	case *PollCloseData:
		if string(key) == "poll_id" {
			return str(&d.PollID)
		}
	case *QuizRevealData:
		if string(key) == "quiz_id" {
			return str(&d.QuizID)
		}
	}
	return false
}
