// Package schemas holds Ovation's wire contracts: the engagement event
// envelope written to ovation.events, the frames and snapshots written to
// ovation.room-frames and ovation.room-snapshots, and the pure functions
// that fold deltas into room state. Every other package may import it; it
// imports nothing of Ovation's.
package schemas

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// Version is the schema version this package writes and the only one it
// accepts. A new optional field is a new version, because v1 decoders reject
// unknown fields.
const Version = 1

// Type names an engagement event type.
type Type string

// The engagement event types. Presence is written by pushers straight to
// Kafka; ingest refuses it from clients.
const (
	ChatMessage Type = "chat.message"
	ChatDelete  Type = "chat.delete"
	Reaction    Type = "reaction"
	PollOpen    Type = "poll.open"
	PollVote    Type = "poll.vote"
	PollClose   Type = "poll.close"
	QAAsk       Type = "qa.ask"
	QAUpvote    Type = "qa.upvote"
	QAAnswered  Type = "qa.answered"
	QuizAsk     Type = "quiz.ask"
	QuizAnswer  Type = "quiz.answer"
	QuizReveal  Type = "quiz.reveal"
	Presence    Type = "presence"
	// RoomClose closes a room for good: the processors refuse every later
	// event of the room except presence.
	RoomClose Type = "room.close"
	// QARemove and ReactionRemove are moderation: they remove a question
	// or a whole emoji slot from the room's public state.
	QARemove       Type = "qa.remove"
	ReactionRemove Type = "reaction.remove"
)

// The moderation types ModBan, ModTimeout, ModUnban and RoomControls are
// in moderation.go.

// Types lists every event type in a stable order (docs, schemas, tests).
var Types = []Type{
	ChatMessage, ChatDelete, Reaction,
	PollOpen, PollVote, PollClose,
	QAAsk, QAUpvote, QAAnswered,
	QuizAsk, QuizAnswer, QuizReveal,
	Presence,
	RoomClose, QARemove, ReactionRemove,
	ModBan, ModTimeout, ModUnban, RoomControls,
	ChatPin, ChatUnpin, ModFilters,
	ModApprove, ModReject,
	PollPick, PollRank, PollRate, PollTextAnswer,
}

// Capability names a permission a token grants in a room.
type Capability string

// The capabilities a token can grant per room.
const (
	CapSubscribe Capability = "subscribe"
	CapPublish   Capability = "publish"
	CapModerate  Capability = "moderate"
	CapHost      Capability = "host"
	// CapSystem is never granted by a token: only trusted Kafka producers
	// (pushers reporting presence) write such events.
	CapSystem Capability = "system"
)

// RequiredCapability returns the capability a publisher needs for t.
func RequiredCapability(t Type) Capability {
	switch t {
	case PollOpen, PollClose, QuizAsk, QuizReveal, QAAnswered, RoomClose:
		return CapHost
	case ChatDelete, QARemove, ReactionRemove, ModBan, ModTimeout, ModUnban, RoomControls, ChatPin, ChatUnpin, ModFilters, ModApprove, ModReject:
		return CapModerate
	case Presence:
		return CapSystem
	default:
		return CapPublish
	}
}

// Limits of the v1 schema. They are part of the contract: the JSON Schema
// documents under schemas/jsonschema repeat them.
const (
	MaxEventBytes    = 16 << 10 // one encoded event
	MaxIDLen         = 64       // event, poll, quiz, question and message ids
	MaxRoomLen       = 64
	MaxUserLen       = 128
	MaxNameLen       = 64  // display name, in runes
	MaxChatLen       = 500 // chat text, in runes
	MaxQuestionLen   = 300 // Q&A question and poll/quiz question text, in runes
	MaxOptionLen     = 100 // one poll or quiz option, in runes
	MinOptions       = 2
	MaxOptions       = 10
	MaxQuizPoints    = 1000
	MaxPresenceCount = 10_000_000
)

// Event is the v1 envelope of one engagement event. Data holds the
// type-specific body as raw JSON; Body is the decoded, validated form and is
// filled by ParseEvent.
type Event struct {
	V    int             `json:"v"`
	ID   string          `json:"id"`
	Room string          `json:"room"`
	User string          `json:"user"`
	Type Type            `json:"type"`
	TS   int64           `json:"ts"`
	Data json.RawMessage `json:"data"`

	Body Payload `json:"-"`
}

// Payload is the decoded data of one event type.
type Payload interface {
	validate(f *fieldPath) error
}

// ChatMessageData is the body of chat.message; the message id is the event id.
type ChatMessageData struct {
	Text string `json:"text"`
	Name string `json:"name,omitempty"`
}

// ChatDeleteData is the body of chat.delete.
type ChatDeleteData struct {
	MessageID string `json:"message_id"`
}

// ReactionData is the body of reaction.
type ReactionData struct {
	Emoji string `json:"emoji"`
}

// PollOpenData is the body of poll.open. Kind is one of PollKinds (absent
// means single); options are required except on rating and text polls,
// which have none; MaxPicks (multi only, 0 = every option) and Scale
// (rating only, required there) are kind-specific (interactions.go).
type PollOpenData struct {
	PollID   string   `json:"poll_id"`
	Question string   `json:"question"`
	Options  []string `json:"options,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	MaxPicks int      `json:"max_picks,omitempty"`
	Scale    string   `json:"scale,omitempty"`
	// StopWords (cloud polls only) names the languages whose stop words
	// the cloud drops (StopLanguages).
	StopWords []string `json:"stop_words,omitempty"`
	// Seconds makes the poll timed (timers.go): votes are taken until
	// ts + Seconds, and the processor writes the poll.close itself when
	// the time is up.
	Seconds int `json:"seconds,omitempty"`
}

// PollVoteData is the body of poll.vote; Option is a zero-based index.
type PollVoteData struct {
	PollID string `json:"poll_id"`
	Option int    `json:"option"`
}

// PollCloseData is the body of poll.close.
type PollCloseData struct {
	PollID string `json:"poll_id"`
}

// QAAskData is the body of qa.ask; the question id is the event id.
type QAAskData struct {
	Text string `json:"text"`
}

// QAUpvoteData is the body of qa.upvote.
type QAUpvoteData struct {
	QuestionID string `json:"question_id"`
}

// QAAnsweredData is the body of qa.answered.
type QAAnsweredData struct {
	QuestionID string `json:"question_id"`
}

// QuizAskData is the body of quiz.ask. Correct stays private until
// quiz.reveal; Points defaults to 1 when zero.
type QuizAskData struct {
	QuizID   string   `json:"quiz_id"`
	Question string   `json:"question"`
	Options  []string `json:"options"`
	Correct  int      `json:"correct"`
	Points   int      `json:"points,omitempty"`
	// Seconds makes the question timed (timers.go): answers are taken
	// until ts + Seconds, scored by speed, and the processor writes the
	// quiz.reveal itself when the time is up.
	Seconds int `json:"seconds,omitempty"`
}

// QuizAnswerData is the body of quiz.answer; Option is a zero-based index.
type QuizAnswerData struct {
	QuizID string `json:"quiz_id"`
	Option int    `json:"option"`
}

// QuizRevealData is the body of quiz.reveal.
type QuizRevealData struct {
	QuizID string `json:"quiz_id"`
}

// PresenceData is the body of presence: one pusher node's current viewer
// count for the room. The processor sums the latest report of every node
// that reported within the presence TTL.
type PresenceData struct {
	Node    string `json:"node"`
	Viewers int64  `json:"viewers"`
}

// RoomCloseData is the body of room.close: an empty object.
type RoomCloseData struct{}

// QARemoveData is the body of qa.remove.
type QARemoveData struct {
	QuestionID string `json:"question_id"`
}

// ReactionRemoveData is the body of reaction.remove: the emoji whose slot
// (and count) leaves the room's state.
type ReactionRemoveData struct {
	Emoji string `json:"emoji"`
}

func newPayload(t Type) Payload {
	switch t {
	case ChatMessage:
		return &ChatMessageData{}
	case ChatDelete:
		return &ChatDeleteData{}
	case Reaction:
		return &ReactionData{}
	case PollOpen:
		return &PollOpenData{}
	case PollVote:
		return &PollVoteData{}
	case PollClose:
		return &PollCloseData{}
	case QAAsk:
		return &QAAskData{}
	case QAUpvote:
		return &QAUpvoteData{}
	case QAAnswered:
		return &QAAnsweredData{}
	case QuizAsk:
		return &QuizAskData{}
	case QuizAnswer:
		return &QuizAnswerData{}
	case QuizReveal:
		return &QuizRevealData{}
	case Presence:
		return &PresenceData{}
	case RoomClose:
		return &RoomCloseData{}
	case QARemove:
		return &QARemoveData{}
	case ReactionRemove:
		return &ReactionRemoveData{}
	case ModBan:
		return &ModBanData{}
	case ModTimeout:
		return &ModTimeoutData{}
	case ModUnban:
		return &ModUnbanData{}
	case RoomControls:
		return &Controls{}
	case ChatPin:
		return &ChatPinData{}
	case ChatUnpin:
		return &ChatUnpinData{}
	case ModFilters:
		return &ModFiltersData{}
	case ModApprove:
		return &ModApproveData{}
	case ModReject:
		return &ModRejectData{}
	case PollPick:
		return &PollPickData{}
	case PollRank:
		return &PollRankData{}
	case PollRate:
		return &PollRateData{}
	case PollTextAnswer:
		return &PollTextData{}
	}
	return nil
}

const parseFlags = json.DisallowUnknownFields | json.DontMatchCaseInsensitiveStructFields

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields, trailing data, invalid UTF-8 and escaped lone surrogates (which
// the decoder would silently turn into U+FFFD). The error names the field
// path.
func decodeStrict(b []byte, v any, path string) error {
	return decodeChecked(b, v, path, false, parseFlags)
}

// decodeEvent is decodeStrict for a whole event: the structure is checked
// against EventShape before the decoder runs, and repeated keys are
// refused at every depth, data included. (Frames and snapshots come from
// the processors and may legitimately be larger than any event.)
func decodeEvent(b []byte, v any, path string) error {
	return decodeChecked(b, v, path, true, parseFlags)
}

func decodeChecked(b []byte, v any, path string, event bool, flags json.ParseFlags) error {
	if !utf8.Valid(b) {
		off := invalidUTF8At(b)
		return &ValidationError{Field: joinPath(path, jsonPathAt(b, off)), Rule: RuleUTF8, Detail: fmt.Sprintf("invalid UTF-8 at byte %d", off)}
	}
	if event {
		if err := CheckShape(b, EventShape); err != nil {
			ve := err.(*ValidationError)
			ve.Field = path
			return ve
		}
	}
	if string(bytes.TrimSpace(b)) == "null" {
		// The decoder leaves v untouched for null, which would then read as
		// "every field missing".
		return &ValidationError{Field: path, Rule: RuleType, Detail: "expected an object, got null"}
	}
	rest, err := json.Parse(b, v, flags)
	if err != nil {
		return jsonError(path, err)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return &ValidationError{Field: path, Rule: RuleJSON, Detail: "trailing data after the JSON value"}
	}
	if off := loneSurrogateAt(b); off >= 0 {
		return &ValidationError{Field: joinPath(path, jsonPathAt(b, off)), Rule: RuleUTF8, Detail: fmt.Sprintf("escaped lone surrogate at byte %d", off)}
	}
	if !event {
		return nil
	}
	if err := CheckDuplicateKeys(b, maxShapeDepth); err != nil {
		ve := err.(*ValidationError)
		ve.Field = joinPath(path, ve.Field)
		return ve
	}
	return nil
}

func joinPath(path, f string) string {
	switch {
	case path == "":
		return f
	case f == "" || f[0] == '[':
		return path + f
	}
	return path + "." + f
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// loneSurrogateAt returns the offset of the first \uD800-\uDFFF escape in b
// that is not half of a surrogate pair, or -1. Backslashes only occur inside
// strings of valid JSON, so no string tracking is needed.
func loneSurrogateAt(b []byte) int {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range b[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := hex4(i + 6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11
				continue
			}
			return i
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 5
	}
	return -1
}

// jsonPathAt names, in ValidationError.Field form ("data.options[2]"), the
// value or key that contains byte off of the JSON text b. It only follows
// the structure, so it also works on text the decoder would reject; it is
// used to name the field of an encoding error, which the decoder cannot.
func jsonPathAt(b []byte, off int) string {
	type level struct {
		obj bool
		key string
		idx int
	}
	var stack []level
	expectKey := false
	path := func() string {
		var sb strings.Builder
		for _, l := range stack {
			if l.obj {
				if l.key == "" {
					break
				}
				if sb.Len() > 0 {
					sb.WriteByte('.')
				}
				sb.WriteString(l.key)
			} else {
				fmt.Fprintf(&sb, "[%d]", l.idx)
			}
		}
		return sb.String()
	}
	for i := 0; i < len(b) && i <= off; i++ {
		switch b[i] {
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			isKey := expectKey && len(stack) > 0 && stack[len(stack)-1].obj
			if isKey {
				stack[len(stack)-1].key = truncate(string(bytes.ToValidUTF8(b[i+1:min(j, len(b))], []byte("\uFFFD"))), 40)
			}
			if off <= j {
				return path()
			}
			i = j
		case '{':
			stack = append(stack, level{obj: true})
			expectKey = true
		case '[':
			stack = append(stack, level{})
			expectKey = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ':':
			expectKey = false
		case ',':
			if len(stack) > 0 {
				if top := &stack[len(stack)-1]; top.obj {
					expectKey = true
				} else {
					top.idx++
				}
			}
		}
	}
	return path()
}

// ParseEvent decodes and validates one complete event (as read from Kafka:
// every envelope field present). The returned error is a *ValidationError
// naming the field and the rule.
func ParseEvent(b []byte) (Event, error) { return parseEvent(nil, b) }

func parseEvent(g *Registry, b []byte) (Event, error) {
	var ev Event
	if len(b) > MaxEventBytes {
		return ev, &ValidationError{Field: "", Rule: RuleSize, Detail: fmt.Sprintf("event is %d bytes, the limit is %d", len(b), MaxEventBytes)}
	}
	if err := decodeEvent(b, &ev, ""); err != nil {
		return ev, err
	}
	if err := ev.validate(g); err != nil {
		return ev, err
	}
	return ev, nil
}

// Validate checks the envelope and decodes and validates Data into Body.
func (ev *Event) Validate() error { return ev.validate(nil) }

func (ev *Event) validate(g *Registry) error {
	if ev.V != Version {
		if ev.V == 0 {
			return &ValidationError{Field: "v", Rule: RuleRequired, Detail: "schema version is missing"}
		}
		return &ValidationError{Field: "v", Rule: RuleVersion, Detail: fmt.Sprintf("schema version %d is not supported (this build reads %d)", ev.V, Version)}
	}
	if err := checkID("id", ev.ID); err != nil {
		return err
	}
	if err := CheckRoom(ev.Room); err != nil {
		return err
	}
	if err := CheckUser(ev.User); err != nil {
		return err
	}
	if ev.TS == 0 {
		return &ValidationError{Field: "ts", Rule: RuleRequired, Detail: "ts is missing"}
	}
	if ev.TS < 0 {
		return &ValidationError{Field: "ts", Rule: RuleRange, Detail: "ts must be a positive Unix time in milliseconds"}
	}
	return ev.validateBody(g)
}

// ValidateBody checks the type and decodes and validates Data into Body. It
// is the part of Validate that does not need the fields ingest fills in.
// Data must come from an event that passed CheckShape and
// CheckDuplicateKeys, as ParseEvent and ingest check every event before
// this.
func (ev *Event) ValidateBody() error { return ev.validateBody(nil) }

// ValidateBodyBorrowing is ValidateBodyWith for a caller that uses Body
// only while Data's bytes stay as they are: the strings of Body point
// into Data instead of being copied (an allocation per string field).
// Ingest uses it: it reads Body for its checks and to encode the record,
// all before the request's buffer is reused.
//
// The body comes from bodies when it has a slab for the type (nil:
// a body of its own), so a batch's bodies are a few allocations, not one
// per event.
func (ev *Event) ValidateBodyBorrowing(g *Registry, bodies *Bodies) error {
	return ev.validateBodyFlags(g, parseFlags|json.DontCopyString, true, bodies)
}

// ValidateDecodedBody is ValidateBodyBorrowing for a body that
// Members.NextWithBody decoded from ev.Data for ev.Type while reading the
// event: it checks the body without reading Data again.
func (ev *Event) ValidateDecodedBody(p Payload) error {
	if err := p.validate(dataPath); err != nil {
		return err
	}
	if rn, ok := p.(requiredNumbers); ok {
		if err := checkPresent(ev.Data, "data.", rn.requiredNumbers()); err != nil {
			return err
		}
	}
	ev.Body = p
	return nil
}

// Bodies hands out the bodies of the most published types from slabs, for
// the events of one batch. A slab is replaced, never grown, when full, so
// a body handed out stays where it is.
type Bodies struct {
	// Hint is how many events the batch has: no slab is larger (nor
	// than 512).
	Hint     int
	chat     []ChatMessageData
	reaction []ReactionData
	vote     []PollVoteData
	upvote   []QAUpvoteData
}

func slabOf[T any](s *[]T, hint int) *T {
	if len(*s) == cap(*s) {
		// Eight, then twice the last slab, up to the batch: a batch of
		// one type fills few slabs, one of many types reserves little.
		*s = make([]T, 0, max(1, min(hint, 512, max(8, 2*cap(*s)))))
	}
	*s = append(*s, *new(T))
	return &(*s)[len(*s)-1]
}

// Reset empties b for another batch. It keeps the last slab of each type
// for the bodies to come, so it must be called only when no body it
// handed out is referred to any more.
func (b *Bodies) Reset() {
	b.Hint = 0
	resetSlab(&b.chat)
	resetSlab(&b.reaction)
	resetSlab(&b.vote)
	resetSlab(&b.upvote)
}

func resetSlab[T any](s *[]T) {
	clear(*s) // no string of an old body keeps its buffer alive
	*s = (*s)[:0]
}

// payload returns an empty body for t.
func (b *Bodies) payload(t Type) Payload {
	if b != nil {
		switch t {
		case ChatMessage:
			return slabOf(&b.chat, b.Hint)
		case Reaction:
			return slabOf(&b.reaction, b.Hint)
		case PollVote:
			return slabOf(&b.vote, b.Hint)
		case QAUpvote:
			return slabOf(&b.upvote, b.Hint)
		}
	}
	return newPayload(t)
}

// ValidateBodyReflect is ValidateBodyBorrowing with the codec alone, without
// the fast path for plain bodies (fastdecode.go): the reference the
// differential tests (FuzzFastBody here, FuzzFastEnvelope in ingest) hold
// the fast path to.
func (ev *Event) ValidateBodyReflect(g *Registry) error {
	return ev.validateBodyFlags(g, parseFlags|json.DontCopyString, false, nil)
}

func (ev *Event) validateBody(g *Registry) error {
	return ev.validateBodyFlags(g, parseFlags, true, nil)
}

func (ev *Event) validateBodyFlags(g *Registry, flags json.ParseFlags, fast bool, bodies *Bodies) error {
	if ev.Type == "" {
		return &ValidationError{Field: "type", Rule: RuleRequired, Detail: "type is missing"}
	}
	p := bodies.payload(ev.Type)
	if p == nil {
		if ct := g.Type(ev.Type); ct != nil {
			if len(ev.Data) == 0 || string(ev.Data) == "null" {
				return &ValidationError{Field: "data", Rule: RuleRequired, Detail: "data is missing"}
			}
			c, err := ct.decode(ev.Data)
			if err != nil {
				return err
			}
			ev.Body = c
			return nil
		}
		return &ValidationError{Field: "type", Rule: RuleEnum, Detail: fmt.Sprintf("unknown event type %q", truncate(string(ev.Type), 40))}
	}
	if len(ev.Data) == 0 || string(ev.Data) == "null" {
		return &ValidationError{Field: "data", Rule: RuleRequired, Detail: "data is missing"}
	}
	// A plain body is read by hand; anything else, and anything the
	// fast path is not sure of, by the codec with its exact errors.
	if !fast || !decodeFast(p, ev.Data, flags&json.DontCopyString != 0) {
		if fast {
			p = newPayload(ev.Type) // the codec starts from a clean body
		}
		if err := decodeChecked(ev.Data, p, "data", false, flags); err != nil {
			return err
		}
	}
	if err := p.validate(dataPath); err != nil {
		return err
	}
	if rn, ok := p.(requiredNumbers); ok {
		if err := checkPresent(ev.Data, "data.", rn.requiredNumbers()); err != nil {
			return err
		}
	}
	ev.Body = p
	return nil
}

// Marshal encodes ev with the project's JSON codec. It does not escape
// HTML (json.Marshal would write "<" as six bytes), so an event that was
// accepted never encodes larger than MaxEventBytes: the encoding is the
// shortest spelling of what was read.
func (ev *Event) Marshal() ([]byte, error) { return json.Append(nil, ev, 0) }
