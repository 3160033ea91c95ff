package processors

import (
	"strings"
	"unicode/utf8"

	"github.com/ovation-live/ovation/schemas"
)

// Every record the processors write is measured against the limit the
// topics allow (Config.MaxRecordBytes, derived from their
// max.message.bytes). Sizes are counted as the JSON encoder writes them:
// a "<" is six bytes ("\u003c"), not one. What can grow with input is
// bounded three ways:
//
//   - frames are cut by the encoded size of what they carry
//     (Config.MaxFrameBytes, at most a quarter of the record limit);
//   - private records (l/, c/, d/) are split into chunks of at most
//     chunkBytes;
//   - a room's public state (its snapshot and core record) has an upper
//     bound kept as events apply (room.size); an event that would take
//     it past the record limit is dead-lettered (ReasonTooLarge) before it
//     changes anything. With Ovation's topics (schemas.TopicMaxMessageBytes)
//     this never happens: WorstCaseStateBytes, the state at every room
//     limit with the worst escaping, fits.

// jsonStringLen returns the length of s encoded as a JSON string by the
// project's codec, quotes included: HTML characters and U+2028/U+2029
// become \uXXXX, control characters \uXXXX or \n-style escapes, invalid
// UTF-8 \ufffd. FuzzJSONStringLen checks it against the encoder.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// Fixed upper bounds of encoded pieces: an int64 in decimal, and the keys
// and punctuation of an object around its strings.
const (
	intBytes  = 20
	objFixed  = 96 // keys, quotes, commas and booleans of one small object
	chunkBase = 64 // a chunked record's fixed fields
)

// chatLineBytes bounds a chat line's encoded size in a frame or snapshot.
func chatLineBytes(id, user, name, text string) int {
	return jsonStringLen(id) + jsonStringLen(user) + jsonStringLen(name) + jsonStringLen(text) + intBytes + objFixed
}

// questionBytes bounds a question's encoded size (key included).
func questionBytes(id, user, text string) int {
	return jsonStringLen(id) + jsonStringLen(user) + jsonStringLen(text) + 3*intBytes + objFixed
}

// pollBytes bounds a poll's or quiz's encoded size (key included).
func pollBytes(id, question string, options []string) int {
	n := jsonStringLen(id) + jsonStringLen(question) + objFixed + 4*intBytes
	for _, o := range options {
		n += jsonStringLen(o) + 1 + intBytes + 1
	}
	return n
}

// emojiBytes bounds one reactions entry.
func emojiBytes(e string) int { return jsonStringLen(e) + intBytes + 2 }

// nodeBytes bounds one presence report in the core record.
func nodeBytes(node string) int { return jsonStringLen(node) + 2*intBytes + 16 }

// Per-room bounds that do not depend on what the room holds: the chat
// window (at most schemas.ChatHistory lines of the longest kind), the
// leaderboard, totals, viewers and the record's own fields.
var (
	worstChatLine = chatLineBytes(strings.Repeat("a", schemas.MaxIDLen), strings.Repeat("<", schemas.MaxUserLen),
		strings.Repeat("<", schemas.MaxNameLen), strings.Repeat("<", schemas.MaxChatLen))
	worstLeader = jsonStringLen(strings.Repeat("<", schemas.MaxUserLen)) + 2*intBytes + objFixed
	// stateFixedBytes bounds chat (and its pinned line) + leaderboard +
	// totals + viewers + the
	// core record's and snapshot's own fields (epoch, seqs, counters).
	// The chat window has one more line: the pinned copy (chat.pin).
	stateFixedBytes = (schemas.ChatHistory+1)*(worstChatLine+1) + schemas.LeaderboardSize*(worstLeader+1) + 16*intBytes + 1024
)

// WorstCaseStateBytes is an upper bound of a room's snapshot, and of its
// core changelog record but for slow mode's last-line times (which the
// core record keeps only as far as the record limit allows), when every
// room limit is used with the longest, most escaped text.
// Config.MaxPresenceNodes reports, schemas.MaxSanctionsPerRoom
// sanctions and schemas.MaxHeldPerRoom held items are included.
func WorstCaseStateBytes(cfg *Config) int {
	id := strings.Repeat("a", schemas.MaxIDLen)
	lt := func(n int) string { return strings.Repeat("<", n) }
	opts := make([]string, schemas.MaxOptions)
	for i := range opts {
		opts[i] = lt(schemas.MaxOptionLen)
	}
	n := stateFixedBytes
	n += schemas.MaxEmojisPerRoom * (emojiSlotBytes(lt(schemas.MaxEmojiBytes), lt(schemas.MaxUserLen)) + 2) // reactions + who opened each slot
	n += schemas.MaxQuizzesPerRoom * (pollBytes(id, lt(schemas.MaxQuestionLen), opts) + 1)
	n += schemas.MaxPollsPerRoom * (worstPollBytes(id, lt(schemas.MaxQuestionLen), opts) + 1) // the largest kind (interactions.go)
	n += schemas.MaxQuizzesPerRoom * (jsonStringLen(id) + intBytes + 2)                       // correct options
	n += schemas.MaxQuestionsInRoom * (questionBytes(id, lt(schemas.MaxUserLen), lt(schemas.MaxQuestionLen)) + 1)
	n += cfg.MaxPresenceNodes * (nodeBytes(id) + 1)
	worstSanction := schemas.Sanction{Kind: schemas.SanctionTimeout, Until: 1 << 62, By: lt(schemas.MaxUserLen), TS: 1 << 62, Reason: lt(schemas.MaxReasonLen)}
	n += schemas.MaxSanctionsPerRoom*(sanctionBytes(lt(schemas.MaxUserLen), worstSanction)+1) + controlsBytes
	n += worstCustomBytes() // custom types (custom.go)
	// The pending queue (hold.go), in the core record; the moderator
	// view's own snapshot holds only it.
	worstHeld := &schemas.HeldItem{Kind: schemas.HeldQuestion, User: lt(schemas.MaxUserLen), ID: id, Name: lt(schemas.MaxNameLen), Text: lt(max(schemas.MaxChatLen, schemas.MaxQuestionLen)), TS: 1 << 62, Filtered: true}
	n += schemas.MaxHeldPerRoom*(heldBytes(id, worstHeld)+1) + 3*intBytes + objFixed
	return n
}

// chunkBytes is the target size of one chunked private record (l/, c/,
// d/): far below any record limit, large enough that a checkpoint of a
// big room is a few records.
func (c *Config) chunkBytes() int { return min(256<<10, c.MaxRecordBytes/4) }

// frameBytes is where a room's pending frame is cut.
func (c *Config) frameBytes() int { return min(c.MaxFrameBytes, c.MaxRecordBytes/4) }
