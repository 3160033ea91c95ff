package schemas

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// update rewrites the generated files (JSON Schemas and golden vectors)
// instead of comparing them: go test ./schemas -run TestGenerated -update
var update = flag.Bool("update", false, "rewrite schemas/jsonschema and schemas/testdata/vectors")

// schemaBase is the $id prefix of the JSON Schemas. It is an identifier,
// not a download location: relative $refs between the files resolve
// against it.
const schemaBase = "https://github.com/ovation-live/ovation/schemas/jsonschema/"

// obj is a JSON object that keeps its key order, so the generated schemas
// read top-down ($schema, $id, title, … properties) instead of sorted.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Character classes of the text rules in validate.go, as ECMA-262 regular
// expression escapes (\uHHHH), which JSON Schema patterns use; Go's RE2
// spells them \x{HHHH} (see re2). Escapes rather than literal characters
// keep invisible and bidi-reordering characters out of the files.
// TestSchemaCharClasses checks them against checkText for every code point.
var (
	// bidi: the bidirectional controls of text.go.
	bidi = classOf(bidiControls)
	// ctlLine: what no single-line text may contain: C0, DEL, C1 (Go's
	// unicode.IsControl), the line and paragraph separators and the
	// bidirectional controls.
	ctlLine = `\u0000-\u001f\u007f-\u009f\u2028\u2029` + bidi
	// ctlText: the same for multi-line text (chat and Q&A text), which may
	// hold tab and newline.
	ctlText = `\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029` + bidi
	// spaces: Go's unicode.IsSpace.
	spaces = `\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`
	// blank: what blank text is made of, spaces and the invisibles of
	// text.go.
	blank = spaces + classOf(invisibles)
)

var (
	linePattern      = "^[^" + ctlLine + "]*[^" + ctlLine + blank + "][^" + ctlLine + "]*$"
	textPattern      = "^[^" + ctlText + "]*[^" + ctlText + blank + "][^" + ctlText + "]*$"
	optLinePattern   = "^[^" + ctlLine + "]*$"
	emojiCharPattern = "^[^" + ctlLine + spaces + "]+$"
)

// classOf writes ranges of BMP code points as ECMA-262 class escapes.
func classOf(rs []runeRange) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, `\u%04x`, r.lo)
		if r.hi != r.lo {
			fmt.Fprintf(&b, `-\u%04x`, r.hi)
		}
	}
	return b.String()
}

// idPattern is the id rule of checkIDLike: 1 to max bytes of A-Z a-z 0-9 _ . : -
func idPattern(max int) string { return fmt.Sprintf("^[A-Za-z0-9_.:-]{1,%d}$", max) }

func ref(p string, extra ...kv) obj { return append(obj{{"$ref", p}}, extra...) }

func envRef(def string, extra ...kv) obj { return ref("envelope.json#/$defs/"+def, extra...) }

func idField(desc string) obj {
	return envRef("id", kv{"description", desc})
}

// field is one property of a data schema.
type field struct {
	name     string
	required bool
	schema   obj
}

// typeSchemas describes the data object of every event type. The Go
// validation in validate.go is the authority; TestSchemaMatchesGo checks
// that these agree with it.
func typeSchemas() map[Type]struct {
	desc   string
	fields []field
} {
	type ts = struct {
		desc   string
		fields []field
	}
	text := func(def string, min, max int, desc string) obj {
		o := envRef(def, kv{"description", desc})
		if min > 0 {
			o = append(o, kv{"minLength", min})
		}
		return append(o, kv{"maxLength", max})
	}
	options := obj{
		{"description", fmt.Sprintf("%d to %d options, each 1 to %d characters of single-line text.", MinOptions, MaxOptions, MaxOptionLen)},
		{"type", "array"},
		{"minItems", MinOptions},
		{"maxItems", MaxOptions},
		{"items", envRef("line", kv{"minLength", 1}, kv{"maxLength", MaxOptionLen})},
	}
	option := obj{
		{"description", fmt.Sprintf("Zero-based option index, 0 to %d (the processor also checks it against the poll's options).", MaxOptions-1)},
		{"type", "integer"}, {"minimum", 0}, {"maximum", MaxOptions - 1},
	}
	picks := func(desc string) obj {
		return obj{
			{"description", desc},
			{"type", "array"}, {"minItems", 1}, {"maxItems", MaxOptions}, {"uniqueItems", true},
			{"items", obj{{"type", "integer"}, {"minimum", 0}, {"maximum", MaxOptions - 1}}},
		}
	}
	seconds := func(closer string) obj {
		return obj{
			{"description", fmt.Sprintf("A timer, 0 to %d seconds (0 or absent: none): answers after ts + seconds are refused, and the processor writes the %s itself when the time is up.", MaxTimerSeconds, closer)},
			{"type", "integer"}, {"minimum", 0}, {"maximum", MaxTimerSeconds},
		}
	}
	emojiField := obj{
		{"description", fmt.Sprintf("Exactly one fully-qualified emoji of Unicode's RGI emoji set (Emoji %s): a single emoji, keycap, flag, skin-tone or ZWJ sequence, at most %d code points and %d bytes of UTF-8. JSON Schema can only check the characters and the length; see docs/events.md.", EmojiVersion, MaxEmojiCodePoints, MaxEmojiBytes)},
		{"type", "string"}, {"pattern", emojiCharPattern}, {"minLength", 1}, {"maxLength", MaxEmojiCodePoints},
	}
	target := envRef("user", kv{"description", "The user the sanction is about (a token's sub)."})
	reason := text("optionalLine", 0, MaxReasonLen, "Why, shown to moderators and viewers.")
	flag := func(desc string) obj { return obj{{"description", desc}, {"type", "boolean"}} }
	hide := flag("Also remove the user's chat lines and questions the room still shows.")
	return map[Type]ts{
		ChatMessage: {"A chat message; the message id is the event id.", []field{
			{"text", true, text("text", 1, MaxChatLen, "Message text: tab and newline allowed, no other control characters, not blank.")},
			{"name", false, text("optionalLine", 0, MaxNameLen, "Display name shown with the message.")},
		}},
		ChatDelete: {"A moderator removes a chat message.", []field{
			{"message_id", true, idField("The event id of the chat.message to remove.")},
		}},
		Reaction: {"One emoji reaction; every event counts.", []field{
			{"emoji", true, emojiField},
		}},
		PollOpen: {"A host opens a poll.", []field{
			{"poll_id", true, idField("Poll id chosen by the host, unique in the room.")},
			{"question", true, text("line", 1, MaxQuestionLen, "Poll question, single-line, not blank.")},
			{"options", false, options},
			{"kind", false, obj{
				{"description", "Poll kind: single (absent means single), multi (poll.pick), ranking (poll.rank), rating (poll.rate), text or cloud (poll.text). Rating, text and cloud polls have no options; the others require them."},
				{"enum", PollKinds},
			}},
			{"max_picks", false, obj{
				{"description", "Multi polls only: the most options a viewer may pick, 1 to the number of options (absent: all)."},
				{"type", "integer"}, {"minimum", 1}, {"maximum", MaxOptions},
			}},
			{"scale", false, obj{
				{"description", "Rating polls only, and required there: 1-5, 1-10 or nps (0 to 10)."},
				{"enum", Scales},
			}},
			{"stop_words", false, obj{
				{"description", "Cloud polls only: languages whose stop words the cloud drops."},
				{"type", "array"}, {"minItems", 1}, {"maxItems", MaxStopLanguages}, {"uniqueItems", true},
				{"items", obj{{"enum", StopLanguages}}},
			}},
			{"seconds", false, seconds("poll.close")},
		}},
		PollPick: {"A viewer picks options in a multi poll; a new pick replaces the previous one until the poll closes.", []field{
			{"poll_id", true, idField("The poll voted in.")},
			{"options", true, picks("Zero-based option indexes, distinct, at most the poll's max_picks (the processor checks them against the poll).")},
		}},
		PollRank: {"A viewer orders options in a ranking poll, best first; a new order replaces the previous one until the poll closes.", []field{
			{"poll_id", true, idField("The poll voted in.")},
			{"order", true, picks("Zero-based option indexes, best first, distinct; options left out score nothing.")},
		}},
		PollRate: {"A viewer rates on a rating poll's scale; a new rating moves the previous one until the poll closes.", []field{
			{"poll_id", true, idField("The poll voted in.")},
			{"rating", true, obj{
				{"description", fmt.Sprintf("A value of the poll's scale: 1-5, 1-10 or 0-10 for nps (JSON Schema can only bound it by 0 to %d).", MaxRating)},
				{"type", "integer"}, {"minimum", 0}, {"maximum", MaxRating},
			}},
		}},
		PollTextAnswer: {"A viewer answers an open-text poll (the first answer per user counts).", []field{
			{"poll_id", true, idField("The poll answered.")},
			{"answer", true, text("line", 1, MaxPollTextLen, "The answer: single-line, not blank.")},
		}},
		PollVote: {"A viewer votes; a new vote by the same user moves the vote.", []field{
			{"poll_id", true, idField("The poll voted in.")},
			{"option", true, option},
		}},
		PollClose: {"A host closes a poll.", []field{
			{"poll_id", true, idField("The poll to close.")},
		}},
		QAAsk: {"A viewer asks a question; the question id is the event id.", []field{
			{"text", true, text("text", 1, MaxQuestionLen, "Question text: tab and newline allowed, no other control characters, not blank.")},
		}},
		QAUpvote: {"A viewer upvotes a question (once per user).", []field{
			{"question_id", true, idField("The event id of the qa.ask.")},
		}},
		QAAnswered: {"A host marks a question answered.", []field{
			{"question_id", true, idField("The event id of the qa.ask.")},
		}},
		QuizAsk: {"A host asks a quiz question; correct stays private until quiz.reveal.", []field{
			{"quiz_id", true, idField("Quiz question id chosen by the host, unique in the room.")},
			{"question", true, text("line", 1, MaxQuestionLen, "Quiz question, single-line, not blank.")},
			{"options", true, options},
			{"correct", true, obj{
				{"description", fmt.Sprintf("Index of the correct option: 0 to len(options)-1 (JSON Schema can only bound it by %d).", MaxOptions-1)},
				{"type", "integer"}, {"minimum", 0}, {"maximum", MaxOptions - 1},
			}},
			{"points", false, obj{
				{"description", fmt.Sprintf("Points for a correct answer, 0 to %d; 0 or absent means 1.", MaxQuizPoints)},
				{"type", "integer"}, {"minimum", 0}, {"maximum", MaxQuizPoints},
			}},
			{"seconds", false, seconds("quiz.reveal")},
		}},
		QuizAnswer: {"A viewer answers a quiz question (first answer per user counts).", []field{
			{"quiz_id", true, idField("The quiz question answered.")},
			{"option", true, option},
		}},
		QuizReveal: {"A host reveals the correct answer; answers are scored.", []field{
			{"quiz_id", true, idField("The quiz question to reveal.")},
		}},
		RoomClose: {"A host closes the room for good; data is an empty object.", nil},
		QARemove: {"A moderator removes a question from the room.", []field{
			{"question_id", true, idField("The event id of the qa.ask to remove.")},
		}},
		ReactionRemove: {"A moderator removes an emoji slot (and its count) from the room.", []field{
			{"emoji", true, emojiField},
		}},
		ModBan: {"A moderator bans a user from the room until mod.unban; the user's later events are refused and ignored (docs/moderation.md).", []field{
			{"target", true, target},
			{"reason", false, reason},
			{"hide", false, hide},
		}},
		ModTimeout: {"A moderator bans a user from the room for a number of seconds from the event's ts.", []field{
			{"target", true, target},
			{"seconds", true, obj{
				{"description", fmt.Sprintf("Length of the timeout, 1 to %d seconds.", MaxTimeoutSeconds)},
				{"type", "integer"}, {"minimum", 1}, {"maximum", MaxTimeoutSeconds},
			}},
			{"reason", false, reason},
			{"hide", false, hide},
		}},
		ModUnban: {"A moderator lifts a user's ban or timeout.", []field{
			{"target", true, target},
		}},
		ChatPin: {"A moderator pins a chat line of the room's history above the chat (a copy: it stays when the line scrolls away).", []field{
			{"message_id", true, idField("The id of the chat line to pin.")},
		}},
		ChatUnpin: {"A moderator takes the pinned chat line down; data is an empty object.", nil},
		ModFilters: {"A moderator sets the room's word filter (private: never in frames or snapshots); an empty list turns it off.", []field{
			{"words", true, obj{
				{"description", fmt.Sprintf("Up to %d words, each one word of 1 to %d characters; matched on whole words after normalisation (case, width, marks, look-alikes).", MaxFilterWords, MaxFilterWordLen)},
				{"type", "array"}, {"maxItems", MaxFilterWords},
				{"items", envRef("line", kv{"minLength", 1}, kv{"maxLength", MaxFilterWordLen})},
			}},
			{"patterns", false, obj{
				{"description", fmt.Sprintf("Up to %d RE2 regular expressions of at most %d bytes (and %d compiled instructions), each matched against a whole word in its folded form: lower case, full width and marks gone, digit stand-ins mapped.", MaxFilterPatterns, MaxFilterPatternLen, MaxFilterPatternInsts)},
				{"type", "array"}, {"maxItems", MaxFilterPatterns},
				{"items", obj{{"type", "string"}, {"minLength", 1}, {"maxLength", MaxFilterPatternLen}}},
			}},
			{"action", true, obj{{"description", "refuse: the line or question is ignored; mask: the matching words are replaced by asterisks; hold: the line or question waits in the room's pending queue for a moderator."}, {"type", "string"}, {"enum", []string{FilterRefuse, FilterMask, FilterHold}}}},
		}},
		ModApprove: {"A moderator approves a held chat line or question: it enters the room at the approval's position (docs/moderation.md).", []field{
			{"id", true, idField("The held item's key in the moderator view's held map.")},
		}},
		ModReject: {"A moderator rejects a held chat line or question: it never enters the room.", []field{
			{"id", true, idField("The held item's key in the moderator view's held map.")},
		}},
		RoomControls: {"A moderator sets the room's live controls, all at once: a field left out is off.", []field{
			{"slow_mode", false, obj{
				{"description", fmt.Sprintf("Least seconds between two chat lines of one user, 0 (off) to %d.", MaxSlowModeSeconds)},
				{"type", "integer"}, {"minimum", 0}, {"maximum", MaxSlowModeSeconds},
			}},
			{"chat_off", false, flag("No chat lines are taken.")},
			{"reactions_off", false, flag("No reactions are taken.")},
			{"questions_off", false, flag("No new questions are taken.")},
			{"emote_only", false, flag("Only chat lines made of emoji and spaces are taken.")},
			{"hold_chat", false, flag("Chat lines wait in the room's pending queue until a moderator approves them.")},
			{"hold_questions", false, flag("Questions wait in the room's pending queue until a moderator approves them.")},
		}},
		Presence: {"A pusher node reports its current viewer count for the room (trusted producers only).", []field{
			{"node", true, idField("The pusher node id.")},
			{"viewers", true, obj{
				{"description", "Viewers connected to this node for this room."},
				{"type", "integer"}, {"minimum", 0}, {"maximum", MaxPresenceCount},
			}},
		}},
	}
}

// pollOpenRules are poll.open's kind rules: options required unless the
// kind is rating or text (which have none), scale required on rating
// polls and absent otherwise, max_picks only on multi polls. That
// max_picks is at most the number of options is beyond JSON Schema.
func pollOpenRules() []any {
	kindIs := func(kinds ...string) obj {
		return obj{{"properties", obj{{"kind", obj{{"enum", kinds}}}}}, {"required", []string{"kind"}}}
	}
	absent := func(f string) obj { return obj{{"not", obj{{"required", []string{f}}}}} }
	present := func(f string) obj { return obj{{"required", []string{f}}} }
	return []any{
		obj{{"if", kindIs(PollRating, PollOpenText, PollCloud)}, {"then", absent("options")}, {"else", present("options")}},
		obj{{"if", kindIs(PollCloud)}, {"else", absent("stop_words")}},
		obj{{"if", kindIs(PollRating)}, {"then", present("scale")}, {"else", absent("scale")}},
		obj{{"if", kindIs(PollMulti)}, {"else", absent("max_picks")}},
	}
}

func typeSchema(t Type) obj {
	ts := typeSchemas()[t]
	req := []string{}
	props := obj{}
	for _, f := range ts.fields {
		props = append(props, kv{f.name, f.schema})
		if f.required {
			req = append(req, f.name)
		}
	}
	data := obj{{"type", "object"}, {"required", req}, {"additionalProperties", false}, {"properties", props}}
	if t == PollOpen {
		data = append(data, kv{"allOf", pollOpenRules()})
	}
	return obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", schemaBase + string(t) + ".json"},
		{"title", "Ovation " + string(t) + " event, schema v1"},
		{"description", ts.desc + " The whole event as written to ovation.events; the object under data is $defs/data."},
		{"x-required-capability", string(RequiredCapability(t))},
		{"type", "object"},
		{"required", envelopeFields},
		{"additionalProperties", false},
		{"properties", obj{
			{"v", envRef("v")},
			{"id", envRef("id")},
			{"room", envRef("room")},
			{"user", envRef("user")},
			{"type", obj{{"const", string(t)}}},
			{"ts", envRef("ts")},
			{"data", ref("#/$defs/data")},
		}},
		{"$defs", obj{{"data", data}}},
	}
}

var envelopeFields = []string{"v", "id", "room", "user", "type", "ts", "data"}

func envelopeSchema() obj {
	var types []string
	var dispatch []any
	for _, t := range Types {
		types = append(types, string(t))
		dispatch = append(dispatch, obj{
			{"if", obj{{"properties", obj{{"type", obj{{"const", string(t)}}}}}, {"required", []string{"type"}}}},
			{"then", ref(string(t) + ".json")},
		})
	}
	idLike := func(max int, desc string) obj {
		return obj{{"description", desc}, {"type", "string"}, {"minLength", 1}, {"maxLength", max}, {"pattern", idPattern(max)}}
	}
	return obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", schemaBase + "envelope.json"},
		{"title", "Ovation engagement event, schema v1"},
		{"description", fmt.Sprintf("One record value of ovation.events (UTF-8 JSON, at most %d bytes). The type selects the schema of data; each type's file validates the whole event.", MaxEventBytes)},
		{"type", "object"},
		{"required", envelopeFields},
		{"additionalProperties", false},
		{"properties", obj{
			{"v", envRef("v")},
			{"id", envRef("id")},
			{"room", envRef("room")},
			{"user", envRef("user")},
			{"type", obj{{"description", "The event type."}, {"enum", types}}},
			{"ts", envRef("ts")},
			{"data", obj{{"description", "The type's body; see the type's schema."}, {"type", "object"}}},
		}},
		{"allOf", dispatch},
		{"$defs", obj{
			{"v", obj{{"description", "Schema version. Write it as the integer 1."}, {"const", Version}}},
			{"id", idLike(MaxIDLen, fmt.Sprintf("An id: 1 to %d of A-Z a-z 0-9 _ . : -", MaxIDLen))},
			{"room", idLike(MaxRoomLen, fmt.Sprintf("A room id: 1 to %d of A-Z a-z 0-9 _ . : -", MaxRoomLen))},
			{"user", obj{
				{"description", fmt.Sprintf("The publisher, from the token's sub (taken as written from trusted Kafka producers): single-line text, not blank, at most %d bytes of UTF-8 (JSON Schema can only bound the characters).", MaxUserLen)},
				{"type", "string"}, {"minLength", 1}, {"maxLength", MaxUserLen}, {"pattern", linePattern},
			}},
			{"ts", obj{{"description", "Ingest time, Unix milliseconds. Write integers without a fraction or exponent."}, {"type", "integer"}, {"minimum", 1}}},
			{"text", obj{{"description", "Multi-line text: tab and newline allowed, no other control characters, no U+2028/U+2029, no bidirectional controls (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069), not blank (white space and invisible characters only), at most 8 combining marks per character (not expressible here)."}, {"type", "string"}, {"pattern", textPattern}}},
			{"line", obj{{"description", "Single-line text: no control characters, no U+2028/U+2029, no bidirectional controls (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069), not blank (white space and invisible characters only), at most 8 combining marks per character (not expressible here)."}, {"type", "string"}, {"pattern", linePattern}}},
			{"optionalLine", obj{{"description", "Single-line text that may be empty or blank."}, {"type", "string"}, {"pattern", optLinePattern}}},
		}},
	}
}

// generatedSchemas returns file name → content of every JSON Schema.
func generatedSchemas(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	put := func(name string, o obj) {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		ind.WriteByte('\n')
		out[name] = ind.Bytes()
	}
	put("envelope.json", envelopeSchema())
	for _, ty := range Types {
		put(string(ty)+".json", typeSchema(ty))
	}
	return out
}

// checkGenerated compares (or, with -update, writes) files in dir.
func checkGenerated(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go test ./schemas -run TestGenerated -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the Go code generates; run go test ./schemas -run TestGenerated -update and review the diff", filepath.Join(dir, name))
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("%s is not generated by any test: remove it or add it to the generator", filepath.Join(dir, e.Name()))
		}
	}
}

// TestGenerated keeps the checked-in JSON Schemas and golden vectors equal
// to what the generators in this package's tests produce.
func TestGenerated(t *testing.T) {
	checkGenerated(t, "jsonschema", generatedSchemas(t))
	checkGenerated(t, filepath.Join("testdata", "vectors"), generatedVectors(t))
}
