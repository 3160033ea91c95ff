package schemas

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// The golden vectors are written by hand here, expectations included, and
// checked in under testdata/vectors so that other languages read the same
// cases. TestInvalidVectors and TestValidVectors then run the files, not
// this list, through ParseEvent.

// validVector is one entry of valid.json.
type validVector struct {
	Name  string          `json:"name"`
	Event json.RawMessage `json:"event"`
}

// invalidVector is one entry of invalid.json. Exactly one of Input (the
// raw event text) and InputB64 (base64 of raw bytes that are not UTF-8) is
// set. Schema says what a JSON Schema 2020-12 validator with
// jsonschema/envelope.json does with the parsed input: "rejects",
// "accepts" (a rule JSON Schema cannot express; see docs/events.md) or
// "n/a" (the input is not JSON text at all).
type invalidVector struct {
	Name     string  `json:"name"`
	Input    *string `json:"input,omitempty"`
	InputB64 string  `json:"input_b64,omitempty"`
	Field    string  `json:"field"`
	Rule     Rule    `json:"rule"`
	Schema   string  `json:"schema"`
}

func (v invalidVector) raw() []byte {
	if v.Input != nil {
		return []byte(*v.Input)
	}
	b, err := base64.StdEncoding.DecodeString(v.InputB64)
	if err != nil {
		panic(err)
	}
	return b
}

const del = "\x00delete"

// ev builds an event's JSON text: the default envelope of type t with data,
// then each override replaces a field's raw JSON value (del removes the
// field; a new name is appended).
func ev(t Type, data string, over ...kv) string {
	fields := []kv{
		{"v", "1"}, {"id", `"evt-0001"`}, {"room", `"room-1"`}, {"user", `"user-1"`},
		{"type", `"` + string(t) + `"`}, {"ts", "1767225600000"}, {"data", data},
	}
	for _, o := range over {
		found := false
		for i := range fields {
			if fields[i].k == o.k {
				fields[i].v, found = o.v, true
			}
		}
		if !found {
			fields = append(fields, o)
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		if f.v == del {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`"` + f.k + `":` + f.v.(string))
	}
	b.WriteByte('}')
	return b.String()
}

func chat(over ...kv) string { return ev(ChatMessage, `{"text":"hi"}`, over...) }

func q(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// esc writes s with every character as a \u escape (surrogate pairs above
// the BMP), the longest way to write valid text.
func esc(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r > 0xFFFF {
			r -= 0x10000
			b.WriteString(hex4(0xD800+(r>>10)) + hex4(0xDC00+(r&0x3FF)))
			continue
		}
		b.WriteString(hex4(r))
	}
	b.WriteByte('"')
	return b.String()
}

func hex4(r rune) string {
	const h = "0123456789abcdef"
	return `\u` + string([]byte{h[r>>12&15], h[r>>8&15], h[r>>4&15], h[r&15]})
}

func rep(s string, n int) string { return strings.Repeat(s, n) }

func opts(n int, each string) string {
	var o []string
	for i := 0; i < n; i++ {
		o = append(o, each)
	}
	b, _ := json.Marshal(o)
	return string(b)
}

const (
	family  = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466" // 👨‍👩‍👧‍👦, 25 bytes
	rainbow = "\U0001F3F3\uFE0F\u200D\U0001F308"                           // 🏳️‍🌈
	coder   = "\U0001F9D1\U0001F3FD\u200D\U0001F4BB"                       // 🧑🏽‍💻
	grin    = "\U0001F600"                                                 // 😀, 4 bytes
	// scotland is a tag sequence: black flag, tags "gbsct", cancel tag.
	scotland = "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
	// kiss is the longest RGI emoji of Emoji 15.0: 10 code points, 35 bytes.
	kiss    = "\U0001F468\U0001F3FB\u200D\u2764\uFE0F\u200D\U0001F48B\u200D\U0001F468\U0001F3FC"
	max64ID = "Aa0_.:-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234" // 64 bytes
)

func validVectors() []validVector {
	v := func(name, event string) validVector { return validVector{name, json.RawMessage(event)} }
	tenOpts := `["a","b","c","d","e","f","g","h","i","j"]`
	return []validVector{
		v("chat.message plain", chat()),
		v("chat.message with name and non-Latin text", ev(ChatMessage, `{"text":"Grüße aus Köln — 你好 — مرحبا — Привет","name":"Zoë"}`)),
		v("chat.message emoji ZWJ sequences", ev(ChatMessage, `{"text":"family `+family+` flag `+rainbow+` coder `+coder+`","name":"`+coder+` dev"}`)),
		v("chat.message multi-line with tab", ev(ChatMessage, `{"text":"line one\nline two\n\tindented"}`)),
		v("chat.message text and name at max length (4-byte characters)", ev(ChatMessage, `{"text":"`+rep(grin, MaxChatLen)+`","name":"`+rep("ü", MaxNameLen)+`"}`)),
		v("chat.message max-length text written as \\u escapes", ev(ChatMessage, `{"text":`+esc(rep(grin, MaxChatLen))+`}`)),
		v("chat.message eight combining marks on one letter, invisibles inside text", ev(ChatMessage, `{"text":"a`+rep("\u0301", MaxCombiningMarks)+` Tie\u0302\u0301ng Vie\u0323\u0302t a\u200bb"}`)),
		v("chat.message non-breaking space around text", ev(ChatMessage, `{"text":"\u00a0ok\u00a0","name":""}`)),
		v("chat.message envelope fields at max length", ev(ChatMessage, `{"text":"hi"}`,
			kv{"id", q(max64ID)}, kv{"room", q(rep("r", MaxRoomLen))}, kv{"user", q(rep("u", MaxUserLen))}, kv{"ts", "9007199254740991"})),
		v("chat.message unicode user id and pretty-printed JSON", "{\n  \"v\": 1,\n  \"id\": \"evt-0002\",\n  \"room\": \"room-1\",\n  \"user\": \"Zoë "+coder+"\",\n  \"type\": \"chat.message\",\n  \"ts\": 1767225600001,\n  \"data\": { \"text\": \"hi\" }\n}"),
		v("chat.delete", ev(ChatDelete, `{"message_id":"evt-0001"}`)),
		v("chat.delete max-length id", ev(ChatDelete, `{"message_id":`+q(max64ID)+`}`)),
		v("reaction thumbs up", ev(Reaction, `{"emoji":"👍"}`)),
		v("reaction ZWJ family (25 bytes)", ev(Reaction, `{"emoji":"`+family+`"}`)),
		v("reaction flag with variation selector", ev(Reaction, `{"emoji":"`+rainbow+`"}`)),
		v("reaction keycap", ev(Reaction, `{"emoji":"1\ufe0f\u20e3"}`)),
		v("reaction country flag", ev(Reaction, `{"emoji":"🇩🇪"}`)),
		v("reaction skin tone", ev(Reaction, `{"emoji":"👍🏽"}`)),
		v("reaction tag sequence (flag of Scotland)", ev(Reaction, `{"emoji":"`+scotland+`"}`)),
		v("reaction red heart with U+FE0F", ev(Reaction, `{"emoji":"❤️"}`)),
		v("reaction longest RGI emoji (kiss, two skin tones, 35 bytes)", ev(Reaction, `{"emoji":"`+kiss+`"}`)),
		v("reaction emoji written as \\u escapes", ev(Reaction, `{"emoji":`+esc(coder)+`}`)),
		v("poll.open two options", ev(PollOpen, `{"poll_id":"poll-1","question":"Best talk?","options":["Keynote","Panel"]}`)),
		v("poll.open ten options, unicode", ev(PollOpen, `{"poll_id":"poll-2","question":"Lieblingsfarbe? 🎨","options":["rot","grün","blau","gelb","schwarz","weiß","lila","rosa","grau","`+rainbow+`"]}`)),
		v("poll.open at max lengths", ev(PollOpen, `{"poll_id":`+q(max64ID)+`,"question":"`+rep("é", MaxQuestionLen)+`","options":`+opts(MaxOptions, rep("ö", MaxOptionLen))+`}`)),
		v("poll.open at max lengths as \\u escapes (near 16 KiB)", ev(PollOpen, `{"poll_id":"p","question":`+esc(rep(grin, MaxQuestionLen))+`,"options":[`+strings.TrimSuffix(rep(esc(rep(grin, MaxOptionLen))+",", MaxOptions), ",")+`]}`)),
		v("poll.vote first option", ev(PollVote, `{"poll_id":"poll-1","option":0}`)),
		v("poll.vote last option", ev(PollVote, `{"poll_id":"poll-1","option":9}`)),
		v("poll.close", ev(PollClose, `{"poll_id":"poll-1"}`)),
		v("poll.close max-length id", ev(PollClose, `{"poll_id":`+q(max64ID)+`}`)),
		v("qa.ask", ev(QAAsk, `{"text":"How does exactly-once work?"}`)),
		v("qa.ask multi-line unicode", ev(QAAsk, `{"text":"Frage 1:\n¿Qué tal? 日本語 `+family+`"}`)),
		v("qa.ask at max length", ev(QAAsk, `{"text":"`+rep("ж", MaxQuestionLen)+`"}`)),
		v("qa.upvote", ev(QAUpvote, `{"question_id":"evt-0042"}`)),
		v("qa.upvote max-length id", ev(QAUpvote, `{"question_id":`+q(max64ID)+`}`)),
		v("qa.answered", ev(QAAnswered, `{"question_id":"evt-0042"}`)),
		v("qa.answered id with punctuation", ev(QAAnswered, `{"question_id":"q:2026-01-01.a_b-c"}`)),
		v("quiz.ask default points", ev(QuizAsk, `{"quiz_id":"quiz-1","question":"2+2?","options":["3","4"],"correct":1}`)),
		v("quiz.ask max points, ten options, last correct", ev(QuizAsk, `{"quiz_id":"quiz-2","question":"Which?","options":`+tenOpts+`,"correct":9,"points":1000}`)),
		v("quiz.ask zero points means one", ev(QuizAsk, `{"quiz_id":"quiz-3","question":"Hauptstadt von Österreich?","options":["Wien","Graz"],"correct":0,"points":0}`)),
		v("quiz.answer first option", ev(QuizAnswer, `{"quiz_id":"quiz-1","option":0}`)),
		v("quiz.answer last option", ev(QuizAnswer, `{"quiz_id":"quiz-1","option":9}`)),
		v("quiz.reveal", ev(QuizReveal, `{"quiz_id":"quiz-1"}`)),
		v("quiz.reveal max-length id", ev(QuizReveal, `{"quiz_id":`+q(max64ID)+`}`)),
		v("room.close", ev(RoomClose, `{}`)),
		v("room.close with white space in data", ev(RoomClose, "{ \n }")),
		v("qa.remove", ev(QARemove, `{"question_id":"evt-0042"}`)),
		v("qa.remove max-length id", ev(QARemove, `{"question_id":`+q(max64ID)+`}`)),
		v("reaction.remove", ev(ReactionRemove, `{"emoji":"👏"}`)),
		v("reaction.remove ZWJ sequence", ev(ReactionRemove, `{"emoji":"`+rainbow+`"}`)),
		v("mod.ban", ev(ModBan, `{"target":"troll-7"}`)),
		v("mod.ban with reason and hide", ev(ModBan, `{"target":"Zoë <z@example.org>","reason":"spam links","hide":true}`)),
		v("mod.timeout", ev(ModTimeout, `{"target":"troll-7","seconds":600}`)),
		v("mod.timeout one week, hide false", ev(ModTimeout, `{"target":"troll-7","seconds":604800,"reason":"cool off","hide":false}`)),
		v("mod.unban", ev(ModUnban, `{"target":"troll-7"}`)),
		v("mod.unban max-length target", ev(ModUnban, `{"target":"`+rep("u", MaxUserLen)+`"}`)),
		v("chat.pin", ev(ChatPin, `{"message_id":"evt-0001"}`)),
		v("chat.pin max-length id", ev(ChatPin, `{"message_id":`+q(max64ID)+`}`)),
		v("chat.unpin", ev(ChatUnpin, `{}`)),
		v("mod.filters refuse", ev(ModFilters, `{"words":["idiot","spam"],"action":"refuse"}`)),
		v("mod.filters off", ev(ModFilters, `{"words":[],"action":"mask"}`)),
		v("chat.unpin with white space", ev(ChatUnpin, "{ }")),
		v("room.controls all off", ev(RoomControls, `{}`)),
		v("room.controls slow mode", ev(RoomControls, `{"slow_mode":30}`)),
		v("room.controls everything", ev(RoomControls, `{"slow_mode":3600,"chat_off":true,"reactions_off":true,"questions_off":true,"emote_only":true}`)),
		v("room.controls hold for review", ev(RoomControls, `{"hold_chat":true,"hold_questions":true}`)),
		v("mod.filters hold", ev(ModFilters, `{"words":["spoiler"],"action":"hold"}`)),
		v("mod.filters patterns", ev(ModFilters, `{"words":[],"patterns":["f+r+e+e+","(buy|cheap)[a-z]*"],"action":"refuse"}`)),
		v("mod.approve", ev(ModApprove, `{"id":"evt-0001"}`)),
		v("mod.approve max-length id", ev(ModApprove, `{"id":`+q(max64ID)+`}`)),
		v("mod.reject", ev(ModReject, `{"id":"u-0123456789abcdef01234567"}`)),
		v("mod.reject max-length id", ev(ModReject, `{"id":`+q(max64ID)+`}`)),
		v("presence zero viewers", ev(Presence, `{"node":"pusher-a","viewers":0}`, kv{"user", `"system:pusher-a"`})),
		v("presence max viewers", ev(Presence, `{"node":"pusher-b","viewers":10000000}`, kv{"user", `"system:pusher-b"`})),
		v("poll.open multi with max_picks", ev(PollOpen, `{"poll_id":"poll-m","question":"Which talks?","options":["A","B","C"],"kind":"multi","max_picks":2}`)),
		v("poll.open explicit single kind", ev(PollOpen, `{"poll_id":"poll-s","question":"Best?","options":["A","B"],"kind":"single"}`)),
		v("poll.open ranking ten options", ev(PollOpen, `{"poll_id":"poll-r","question":"Order them","options":`+tenOpts+`,"kind":"ranking"}`)),
		v("poll.open rating 1-5", ev(PollOpen, `{"poll_id":"poll-5","question":"How was it?","kind":"rating","scale":"1-5"}`)),
		v("poll.open rating nps", ev(PollOpen, `{"poll_id":"poll-n","question":"Would you recommend us?","kind":"rating","scale":"nps"}`)),
		v("poll.open open text", ev(PollOpen, `{"poll_id":"poll-t","question":"One word for today?","kind":"text"}`)),
		v("poll.open timed rating", ev(PollOpen, `{"poll_id":"poll-q","question":"Quick one?","kind":"rating","scale":"1-10","seconds":30}`)),
		v("quiz.ask timed at the longest timer", ev(QuizAsk, `{"quiz_id":"z-t","question":"2+2?","options":["3","4"],"correct":1,"points":1000,"seconds":86400}`)),
		v("poll.open word cloud with stop words", ev(PollOpen, `{"poll_id":"poll-c","question":"One word for today?","kind":"cloud","stop_words":["en","de"]}`)),
		v("poll.pick one option", ev(PollPick, `{"poll_id":"poll-m","options":[2]}`)),
		v("poll.pick ten options", ev(PollPick, `{"poll_id":"poll-m","options":[9,8,7,6,5,4,3,2,1,0]}`)),
		v("poll.rank partial order", ev(PollRank, `{"poll_id":"poll-r","order":[3,0]}`)),
		v("poll.rank full order", ev(PollRank, `{"poll_id":"poll-r","order":[0,1,2,3,4,5,6,7,8,9]}`)),
		v("poll.rate zero (nps)", ev(PollRate, `{"poll_id":"poll-n","rating":0}`)),
		v("poll.rate ten", ev(PollRate, `{"poll_id":"poll-n","rating":10}`)),
		v("poll.text unicode", ev(PollTextAnswer, `{"poll_id":"poll-t","answer":"Großartig `+grin+`"}`)),
		v("poll.text at max length", ev(PollTextAnswer, `{"poll_id":"poll-t","answer":"`+rep("é", MaxPollTextLen)+`"}`)),
	}
}

func invalidVectors() []invalidVector {
	const (
		rej = "rejects"
		acc = "accepts"
		na  = "n/a"
	)
	in := func(name, input, field string, rule Rule, schema string) invalidVector {
		return invalidVector{Name: name, Input: &input, Field: field, Rule: rule, Schema: schema}
	}
	b64 := func(name, input, field string, rule Rule) invalidVector {
		return invalidVector{Name: name, InputB64: base64.StdEncoding.EncodeToString([]byte(input)), Field: field, Rule: rule, Schema: na}
	}
	cd := func(text string) string { return ev(ChatMessage, `{"text":`+text+`}`) }
	po := func(data string) string { return ev(PollOpen, data) }
	qa := func(data string) string { return ev(QuizAsk, data) }
	big := chat()
	big = big[:len(big)-1] + strings.Repeat(" ", MaxEventBytes+1-len(big)) + "}"
	return []invalidVector{
		// Not JSON, or more than one value.
		in("empty input", "", "", RuleJSON, na),
		in("unterminated object", `{"v":1`, "", RuleJSON, na),
		in("not JSON", `hello`, "", RuleJSON, na),
		in("trailing comma in envelope", `{"v":1,"id":"evt-0001",}`, "", RuleJSON, na),
		in("trailing comma in data", ev(ChatMessage, `{"text":"hi",}`), "", RuleJSON, na),
		in("single-quoted string", `{'v':1}`, "", RuleJSON, na),
		in("NaN", ev(ChatMessage, `{"text":"hi"}`, kv{"ts", "NaN"}), "", RuleJSON, na),
		in("byte order mark", "\ufeff"+chat(), "", RuleJSON, na),
		in("trailing data", chat()+" x", "", RuleJSON, na),
		in("two events", chat()+chat(), "", RuleJSON, na),
		// Bidirectional controls, invisible-only text, combining-mark floods.
		in("bidi isolates in chat text", cd(`"\u2066evil\u2069"`), "data.text", RuleChars, rej),
		in("right-to-left mark in poll option", po(`{"poll_id":"p","question":"q","options":["a\u200fb","c"]}`), "data.options[0]", RuleChars, rej),
		in("arabic letter mark in chat name", ev(ChatMessage, `{"text":"hi","name":"Zo\u061ce"}`), "data.name", RuleChars, rej),
		in("left-to-right embedding in question", ev(QAAsk, `{"text":"a\u202ab"}`), "data.text", RuleChars, rej),
		in("chat text of one zero-width space", cd(`"\u200b"`), "data.text", RuleRequired, rej),
		in("poll question of Hangul fillers", po(`{"poll_id":"p","question":"\u3164\u3164","options":["a","b"]}`), "data.question", RuleRequired, rej),
		in("chat text of joiners, spaces and a braille blank", cd(`"\u200d \u2060\u2800\ufeff"`), "data.text", RuleRequired, rej),
		in("nine combining marks on one letter", cd(q("a"+rep("\u0301", 9))), "data.text", RuleChars, acc),
		in("combining marks with joiners between", cd(q("a"+rep("\u0301\u200d", 9))), "data.text", RuleChars, acc),
		// Structure (EventShape) and repeated keys, checked before decoding.
		in("nested deeper than 8 levels", cd(rep("[", 7)+`"x"`+rep("]", 7)), "", RuleJSON, rej),
		in("more than 256 values and keys", po(`{"poll_id":"p","question":"q","options":`+opts(250, "o")+`}`), "", RuleJSON, rej),
		in("repeated key in data", cd(`"\u202eevil","text":"clean"`), "data.text", RuleJSON, acc),
		in("repeated key in envelope", strings.Replace(chat(), `"id":"evt-0001"`, `"id":"evt-0001","id":"evt-0002"`, 1), "id", RuleJSON, acc),
		in("repeated key spelled with an escape", cd(`"a","t\u0065xt":"b"`), "data.text", RuleJSON, acc),
		in("repeated key in a nested object", ev(ChatMessage, `{"text":"hi"}`, kv{"x", `{"a":1,"a":2}`}), "x", RuleUnknown, rej),
		// Wrong JSON type, for every kind of field.
		in("event is an array", `[]`, "", RuleType, rej),
		in("event is a string", `"event"`, "", RuleType, rej),
		in("event is null", `null`, "", RuleType, rej),
		in("v is a string", chat(kv{"v", `"1"`}), "v", RuleType, rej),
		in("v has a fraction", chat(kv{"v", `1.5`}), "v", RuleType, rej),
		in("v written as 1.0", chat(kv{"v", `1.0`}), "v", RuleType, acc),
		in("id is a number", chat(kv{"id", `42`}), "id", RuleType, rej),
		in("room is a number", chat(kv{"room", `7`}), "room", RuleType, rej),
		in("room is an array", chat(kv{"room", `["room-1"]`}), "room", RuleType, rej),
		in("user is an object", chat(kv{"user", `{"id":"u"}`}), "user", RuleType, rej),
		in("type is a number", chat(kv{"type", `1`}), "type", RuleType, rej),
		in("ts is a string", chat(kv{"ts", `"1767225600000"`}), "ts", RuleType, rej),
		in("ts has a fraction", chat(kv{"ts", `1767225600000.5`}), "ts", RuleType, rej),
		in("ts is a boolean", chat(kv{"ts", `true`}), "ts", RuleType, rej),
		in("ts overflows int64", chat(kv{"ts", `99999999999999999999`}), "ts", RuleType, acc),
		in("data is a string", ev(ChatMessage, `"hi"`), "data", RuleType, rej),
		in("data is an array", ev(ChatMessage, `[{"text":"hi"}]`), "data", RuleType, rej),
		in("data is a number", ev(ChatMessage, `1`), "data", RuleType, rej),
		in("chat text is a number", cd(`5`), "data.text", RuleType, rej),
		in("chat name is a boolean", ev(ChatMessage, `{"text":"hi","name":true}`), "data.name", RuleType, rej),
		in("chat.delete message_id is an array", ev(ChatDelete, `{"message_id":["evt-0001"]}`), "data.message_id", RuleType, rej),
		in("reaction emoji is a number", ev(Reaction, `{"emoji":1}`), "data.emoji", RuleType, rej),
		in("poll options is a string", po(`{"poll_id":"p","question":"q","options":"a,b"}`), "data.options", RuleType, rej),
		in("poll option text is a number", po(`{"poll_id":"p","question":"q","options":["a",2]}`), "data.options[1]", RuleType, rej),
		in("poll.vote option is a string", ev(PollVote, `{"poll_id":"p","option":"1"}`), "data.option", RuleType, rej),
		in("poll.vote option has a fraction", ev(PollVote, `{"poll_id":"p","option":1.5}`), "data.option", RuleType, rej),
		in("poll.close poll_id is a number", ev(PollClose, `{"poll_id":1}`), "data.poll_id", RuleType, rej),
		in("qa.upvote question_id is an object", ev(QAUpvote, `{"question_id":{}}`), "data.question_id", RuleType, rej),
		in("quiz.ask correct is a string", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":"1"}`), "data.correct", RuleType, rej),
		in("quiz.ask points is a string", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":1,"points":"5"}`), "data.points", RuleType, rej),
		in("quiz.reveal quiz_id is a boolean", ev(QuizReveal, `{"quiz_id":false}`), "data.quiz_id", RuleType, rej),
		in("presence viewers is a string", ev(Presence, `{"node":"n","viewers":"5"}`), "data.viewers", RuleType, rej),
		in("presence node is a number", ev(Presence, `{"node":5,"viewers":5}`), "data.node", RuleType, rej),
		// Fields that v1 does not define.
		in("unknown envelope field", chat(kv{"extra", `1`}), "extra", RuleUnknown, rej),
		in("envelope field in the wrong case", chat(kv{"Room", `"room-1"`}), "Room", RuleUnknown, rej),
		in("unknown data field", ev(ChatMessage, `{"text":"hi","color":"red"}`), "data.color", RuleUnknown, rej),
		in("data field of another type", ev(PollOpen, `{"poll_id":"p","question":"q","options":["a","b"],"correct":0}`), "data.correct", RuleUnknown, rej),
		in("data field in the wrong case", ev(ChatMessage, `{"Text":"hi"}`), "data.Text", RuleUnknown, rej),
		// Unknown type.
		in("unknown type", chat(kv{"type", `"chat.edit"`}), "type", RuleEnum, rej),
		in("type in the wrong case", chat(kv{"type", `"Chat.Message"`}), "type", RuleEnum, rej),
		in("empty type", chat(kv{"type", `""`}), "type", RuleRequired, rej),
		// Missing required fields.
		in("missing v", chat(kv{"v", del}), "v", RuleRequired, rej),
		in("v is zero", chat(kv{"v", `0`}), "v", RuleRequired, rej),
		in("missing id", chat(kv{"id", del}), "id", RuleRequired, rej),
		in("missing room", chat(kv{"room", del}), "room", RuleRequired, rej),
		in("room is null", chat(kv{"room", `null`}), "room", RuleRequired, rej),
		in("missing user", chat(kv{"user", del}), "user", RuleRequired, rej),
		in("missing type", chat(kv{"type", del}), "type", RuleRequired, rej),
		in("missing ts", chat(kv{"ts", del}), "ts", RuleRequired, rej),
		in("missing data", chat(kv{"data", del}), "data", RuleRequired, rej),
		in("data is null", chat(kv{"data", `null`}), "data", RuleRequired, rej),
		in("chat.message missing text", ev(ChatMessage, `{"name":"Zoë"}`), "data.text", RuleRequired, rej),
		in("chat.delete missing message_id", ev(ChatDelete, `{}`), "data.message_id", RuleRequired, rej),
		in("reaction missing emoji", ev(Reaction, `{}`), "data.emoji", RuleRequired, rej),
		in("poll.open missing poll_id", po(`{"question":"q","options":["a","b"]}`), "data.poll_id", RuleRequired, rej),
		in("poll.open missing question", po(`{"poll_id":"p","options":["a","b"]}`), "data.question", RuleRequired, rej),
		in("poll.open missing options", po(`{"poll_id":"p","question":"q"}`), "data.options", RuleRequired, rej),
		in("poll.vote missing poll_id", ev(PollVote, `{"option":0}`), "data.poll_id", RuleRequired, rej),
		in("poll.vote missing option", ev(PollVote, `{"poll_id":"p"}`), "data.option", RuleRequired, rej),
		in("poll.vote option is null", ev(PollVote, `{"poll_id":"p","option":null}`), "data.option", RuleRequired, rej),
		in("poll.close missing poll_id", ev(PollClose, `{}`), "data.poll_id", RuleRequired, rej),
		in("qa.ask missing text", ev(QAAsk, `{}`), "data.text", RuleRequired, rej),
		in("qa.upvote missing question_id", ev(QAUpvote, `{}`), "data.question_id", RuleRequired, rej),
		in("qa.answered missing question_id", ev(QAAnswered, `{}`), "data.question_id", RuleRequired, rej),
		in("quiz.ask missing quiz_id", qa(`{"question":"q","options":["a","b"],"correct":0}`), "data.quiz_id", RuleRequired, rej),
		in("quiz.ask missing question", qa(`{"quiz_id":"z","options":["a","b"],"correct":0}`), "data.question", RuleRequired, rej),
		in("quiz.ask missing options", qa(`{"quiz_id":"z","question":"q","correct":0}`), "data.options", RuleRequired, rej),
		in("quiz.ask missing correct", qa(`{"quiz_id":"z","question":"q","options":["a","b"]}`), "data.correct", RuleRequired, rej),
		in("quiz.answer missing quiz_id", ev(QuizAnswer, `{"option":1}`), "data.quiz_id", RuleRequired, rej),
		in("quiz.answer missing option", ev(QuizAnswer, `{"quiz_id":"z"}`), "data.option", RuleRequired, rej),
		in("quiz.reveal missing quiz_id", ev(QuizReveal, `{}`), "data.quiz_id", RuleRequired, rej),
		in("presence missing node", ev(Presence, `{"viewers":3}`), "data.node", RuleRequired, rej),
		in("presence missing viewers", ev(Presence, `{"node":"n"}`), "data.viewers", RuleRequired, rej),
		// Unsupported schema version.
		in("version 2", chat(kv{"v", `2`}), "v", RuleVersion, rej),
		in("negative version", chat(kv{"v", `-1`}), "v", RuleVersion, rej),
		// Ids and rooms.
		in("id too long", chat(kv{"id", q(rep("a", MaxIDLen+1))}), "id", RuleLength, rej),
		in("id with a space", chat(kv{"id", `"evt 1"`}), "id", RuleChars, rej),
		in("id with a slash", chat(kv{"id", `"evt/1"`}), "id", RuleChars, rej),
		in("id with a non-ASCII letter", chat(kv{"id", `"évt-1"`}), "id", RuleChars, rej),
		in("empty id", chat(kv{"id", `""`}), "id", RuleRequired, rej),
		in("poll_id too long", ev(PollClose, `{"poll_id":`+q(rep("p", MaxIDLen+1))+`}`), "data.poll_id", RuleLength, rej),
		in("message_id with a quote", ev(ChatDelete, `{"message_id":"evt\"1"}`), "data.message_id", RuleChars, rej),
		in("node with a newline", ev(Presence, `{"node":"n\n","viewers":1}`), "data.node", RuleChars, rej),
		in("room too long", chat(kv{"room", q(rep("r", MaxRoomLen+1))}), "room", RuleLength, rej),
		in("room with a slash", chat(kv{"room", `"room/1"`}), "room", RuleChars, rej),
		in("room with a space", chat(kv{"room", `"room 1"`}), "room", RuleChars, rej),
		in("room with a non-ASCII letter", chat(kv{"room", `"salle-é"`}), "room", RuleChars, rej),
		in("empty room", chat(kv{"room", `""`}), "room", RuleRequired, rej),
		// Users.
		in("user too long", chat(kv{"user", q(rep("u", MaxUserLen+1))}), "user", RuleLength, rej),
		in("user over 128 bytes in 2-byte letters", chat(kv{"user", q(rep("é", 65))}), "user", RuleLength, acc),
		in("user with a control character", chat(kv{"user", `"user\u0000"`}), "user", RuleChars, rej),
		in("blank user", chat(kv{"user", `"   "`}), "user", RuleRequired, rej),
		// Encoding.
		b64("invalid UTF-8 in chat text", ev(ChatMessage, "{\"text\":\"caf\xe9\"}"), "data.text", RuleUTF8),
		b64("invalid UTF-8 in room", chat(kv{"room", "\"room-\xff\""}), "room", RuleUTF8),
		b64("invalid UTF-8 in user", chat(kv{"user", "\"u\xc3\""}), "user", RuleUTF8),
		b64("overlong UTF-8 in a poll option", po("{\"poll_id\":\"p\",\"question\":\"q\",\"options\":[\"a\",\"\xc0\xaf\"]}"), "data.options[1]", RuleUTF8),
		b64("UTF-8 encoded surrogate in chat name", ev(ChatMessage, "{\"text\":\"hi\",\"name\":\"\xed\xa0\x80\"}"), "data.name", RuleUTF8),
		in("escaped lone high surrogate in chat text", cd(`"a\ud83d"`), "data.text", RuleUTF8, acc),
		in("escaped surrogates in the wrong order", cd(`"\ude00\ud83d"`), "data.text", RuleUTF8, acc),
		// Control and formatting characters.
		in("bell in chat name", ev(ChatMessage, `{"text":"hi","name":"Zo\u0007"}`), "data.name", RuleChars, rej),
		in("newline in chat name", ev(ChatMessage, `{"text":"hi","name":"a\nb"}`), "data.name", RuleChars, rej),
		in("NUL in chat text", cd(`"a\u0000b"`), "data.text", RuleChars, rej),
		in("escape sequence in chat text", cd(`"\u001b[31mred"`), "data.text", RuleChars, rej),
		in("C1 control in chat text", cd(`"a\u0085b"`), "data.text", RuleChars, rej),
		in("right-to-left override in chat text", cd(`"abc\u202egpj.exe"`), "data.text", RuleChars, rej),
		in("line separator in chat text", cd(`"a\u2028b"`), "data.text", RuleChars, rej),
		in("newline in poll question", po(`{"poll_id":"p","question":"a\nb","options":["a","b"]}`), "data.question", RuleChars, rej),
		in("tab in poll option", po(`{"poll_id":"p","question":"q","options":["a\tb","c"]}`), "data.options[0]", RuleChars, rej),
		in("white space in emoji", ev(Reaction, `{"emoji":"👍 👍"}`), "data.emoji", RuleEmoji, rej),
		in("control character after emoji", ev(Reaction, `{"emoji":"👍\u0007"}`), "data.emoji", RuleEmoji, rej),
		// Emoji: exactly one fully-qualified RGI emoji (JSON Schema cannot say so).
		in("reaction text token", ev(Reaction, `{"emoji":"+1"}`), "data.emoji", RuleEmoji, acc),
		in("reaction letter", ev(Reaction, `{"emoji":"x"}`), "data.emoji", RuleEmoji, acc),
		in("reaction digit without keycap", ev(Reaction, `{"emoji":"1"}`), "data.emoji", RuleEmoji, acc),
		in("reaction two emoji", ev(Reaction, `{"emoji":"👍👍"}`), "data.emoji", RuleEmoji, acc),
		in("reaction red heart without U+FE0F", ev(Reaction, `{"emoji":"\u2764"}`), "data.emoji", RuleEmoji, acc),
		in("reaction heart with text presentation selector", ev(Reaction, `{"emoji":"\u2764\ufe0e"}`), "data.emoji", RuleEmoji, acc),
		in("reaction keycap without U+FE0F", ev(Reaction, `{"emoji":"1\u20e3"}`), "data.emoji", RuleEmoji, acc),
		in("reaction skin tone on a face that takes none", ev(Reaction, `{"emoji":"😀🏽"}`), "data.emoji", RuleEmoji, acc),
		in("reaction lone skin tone after a letter", ev(Reaction, `{"emoji":"a🏽"}`), "data.emoji", RuleEmoji, acc),
		in("reaction lone regional indicator", ev(Reaction, `{"emoji":"🇦"}`), "data.emoji", RuleEmoji, acc),
		in("reaction flag of no region", ev(Reaction, `{"emoji":"🇦🇦"}`), "data.emoji", RuleEmoji, acc),
		in("reaction ZWJ sequence outside the RGI set", ev(Reaction, `{"emoji":"👍\u200d👍"}`), "data.emoji", RuleEmoji, acc),
		in("reaction trailing ZWJ", ev(Reaction, `{"emoji":"👍\u200d"}`), "data.emoji", RuleEmoji, acc),
		in("reaction combining mark on a letter", ev(Reaction, `{"emoji":"e\u0301"}`), "data.emoji", RuleEmoji, acc),
		in("reaction CJK ideograph", ev(Reaction, `{"emoji":"好"}`), "data.emoji", RuleEmoji, acc),
		in("reaction private-use character", ev(Reaction, `{"emoji":"\ue000"}`), "data.emoji", RuleEmoji, acc),
		in("reaction.remove not an emoji", ev(ReactionRemove, `{"emoji":"slot-1"}`), "data.emoji", RuleEmoji, acc),
		in("reaction.remove missing emoji", ev(ReactionRemove, `{}`), "data.emoji", RuleRequired, rej),
		in("reaction.remove emoji is a number", ev(ReactionRemove, `{"emoji":7}`), "data.emoji", RuleType, rej),
		in("qa.remove missing question_id", ev(QARemove, `{}`), "data.question_id", RuleRequired, rej),
		in("qa.remove question_id with a space", ev(QARemove, `{"question_id":"q 1"}`), "data.question_id", RuleChars, rej),
		in("room.close with a field", ev(RoomClose, `{"reason":"done"}`), "data.reason", RuleUnknown, rej),
		in("room.close data is an array", ev(RoomClose, `[]`), "data", RuleType, rej),
		in("room.close data is null", ev(RoomClose, `null`), "data", RuleRequired, rej),
		in("mod.ban missing target", ev(ModBan, `{}`), "data.target", RuleRequired, rej),
		in("mod.ban target with a newline", ev(ModBan, `{"target":"a\nb"}`), "data.target", RuleChars, rej),
		in("mod.ban reason too long", ev(ModBan, `{"target":"t","reason":"`+rep("a", MaxReasonLen+1)+`"}`), "data.reason", RuleLength, rej),
		in("mod.ban hide is a string", ev(ModBan, `{"target":"t","hide":"yes"}`), "data.hide", RuleType, rej),
		in("mod.timeout missing seconds", ev(ModTimeout, `{"target":"t"}`), "data.seconds", RuleRange, rej),
		in("mod.timeout zero seconds", ev(ModTimeout, `{"target":"t","seconds":0}`), "data.seconds", RuleRange, rej),
		in("mod.timeout over a week", ev(ModTimeout, `{"target":"t","seconds":604801}`), "data.seconds", RuleRange, rej),
		in("mod.unban with a field", ev(ModUnban, `{"target":"t","hide":true}`), "data.hide", RuleUnknown, rej),
		in("mod.filters too many patterns", ev(ModFilters, `{"words":[],"patterns":["a","b","c","d","e","f","g","h","i","j","k"],"action":"mask"}`), "data.patterns", RuleLength, rej),
		in("mod.filters unknown action", ev(ModFilters, `{"words":["x"],"action":"hide"}`), "data.action", RuleEnum, rej),
		in("mod.filters two words in one", ev(ModFilters, `{"words":["bad word"],"action":"mask"}`), "data.words[0]", RuleChars, acc),
		in("mod.filters word without letters", ev(ModFilters, `{"words":["--"],"action":"mask"}`), "data.words[0]", RuleChars, acc),
		in("mod.filters missing action", ev(ModFilters, `{"words":["x"]}`), "data.action", RuleEnum, rej),
		in("chat.pin missing message_id", ev(ChatPin, `{}`), "data.message_id", RuleRequired, rej),
		in("mod.approve missing id", ev(ModApprove, `{}`), "data.id", RuleRequired, rej),
		in("mod.approve id with a space", ev(ModApprove, `{"id":"a b"}`), "data.id", RuleChars, rej),
		in("mod.reject with a field", ev(ModReject, `{"id":"x","reason":"spam"}`), "data.reason", RuleUnknown, rej),
		in("room.controls hold_chat not a flag", ev(RoomControls, `{"hold_chat":1}`), "data.hold_chat", RuleType, rej),
		in("chat.unpin with a field", ev(ChatUnpin, `{"message_id":"x"}`), "data.message_id", RuleUnknown, rej),
		in("room.controls negative slow mode", ev(RoomControls, `{"slow_mode":-1}`), "data.slow_mode", RuleRange, rej),
		in("room.controls slow mode over an hour", ev(RoomControls, `{"slow_mode":3601}`), "data.slow_mode", RuleRange, rej),
		in("room.controls unknown control", ev(RoomControls, `{"links_off":true}`), "data.links_off", RuleUnknown, rej),
		// Size and lengths.
		in("event over 16 KiB", big, "", RuleSize, acc),
		in("event over 16 KiB of text", cd(q(rep("a", MaxEventBytes))), "", RuleSize, rej),
		in("chat text one over the limit", cd(q(rep("a", MaxChatLen+1))), "data.text", RuleLength, rej),
		in("chat text one emoji over the limit", cd(q(rep(grin, MaxChatLen+1))), "data.text", RuleLength, rej),
		in("chat name too long", ev(ChatMessage, `{"text":"hi","name":`+q(rep("n", MaxNameLen+1))+`}`), "data.name", RuleLength, rej),
		in("qa.ask text too long", ev(QAAsk, `{"text":`+q(rep("?", MaxQuestionLen+1))+`}`), "data.text", RuleLength, rej),
		in("poll question too long", po(`{"poll_id":"p","question":`+q(rep("q", MaxQuestionLen+1))+`,"options":["a","b"]}`), "data.question", RuleLength, rej),
		in("poll option too long", po(`{"poll_id":"p","question":"q","options":["a",`+q(rep("o", MaxOptionLen+1))+`]}`), "data.options[1]", RuleLength, rej),
		in("emoji over 48 bytes", ev(Reaction, `{"emoji":"`+rep(grin, MaxEmojiCodePoints+1)+`"}`), "data.emoji", RuleLength, rej),
		in("emoji over 12 code points", ev(Reaction, `{"emoji":"`+rep("a", MaxEmojiCodePoints+1)+`"}`), "data.emoji", RuleLength, rej),
		in("emoji of 13 skin tones", ev(Reaction, `{"emoji":"👍`+rep("🏽", MaxEmojiCodePoints)+`"}`), "data.emoji", RuleLength, rej),
		// Options.
		in("poll with one option", po(`{"poll_id":"p","question":"q","options":["a"]}`), "data.options", RuleLength, rej),
		in("poll with no options", po(`{"poll_id":"p","question":"q","options":[]}`), "data.options", RuleLength, rej),
		in("poll with eleven options", po(`{"poll_id":"p","question":"q","options":`+opts(MaxOptions+1, "o")+`}`), "data.options", RuleLength, rej),
		in("quiz with eleven options", qa(`{"quiz_id":"z","question":"q","options":`+opts(MaxOptions+1, "o")+`,"correct":0}`), "data.options", RuleLength, rej),
		in("empty poll option", po(`{"poll_id":"p","question":"q","options":["","b"]}`), "data.options[0]", RuleRequired, rej),
		in("blank poll option", po(`{"poll_id":"p","question":"q","options":["a","  "]}`), "data.options[1]", RuleRequired, rej),
		in("poll.vote option -1", ev(PollVote, `{"poll_id":"p","option":-1}`), "data.option", RuleRange, rej),
		in("poll.vote option 10", ev(PollVote, `{"poll_id":"p","option":10}`), "data.option", RuleRange, rej),
		in("poll.vote option overflows", ev(PollVote, `{"poll_id":"p","option":99999999999999999999}`), "data.option", RuleType, rej),
		in("quiz.answer option 10", ev(QuizAnswer, `{"quiz_id":"z","option":10}`), "data.option", RuleRange, rej),
		in("quiz.answer option -1", ev(QuizAnswer, `{"quiz_id":"z","option":-1}`), "data.option", RuleRange, rej),
		in("quiz correct past the last option", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":2}`), "data.correct", RuleRange, acc),
		in("quiz correct -1", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":-1}`), "data.correct", RuleRange, rej),
		in("quiz correct 10", qa(`{"quiz_id":"z","question":"q","options":`+opts(MaxOptions, "o")+`,"correct":10}`), "data.correct", RuleRange, rej),
		in("quiz points over the limit", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":0,"points":1001}`), "data.points", RuleRange, rej),
		in("quiz points negative", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":0,"points":-1}`), "data.points", RuleRange, rej),
		// Numbers.
		in("negative presence", ev(Presence, `{"node":"n","viewers":-1}`), "data.viewers", RuleRange, rej),
		in("presence over the limit", ev(Presence, `{"node":"n","viewers":10000001}`), "data.viewers", RuleRange, rej),
		in("negative ts", chat(kv{"ts", `-1`}), "ts", RuleRange, rej),
		in("zero ts", chat(kv{"ts", `0`}), "ts", RuleRequired, rej),
		// Blank text.
		in("empty chat text", cd(`""`), "data.text", RuleRequired, rej),
		in("blank chat text", cd(`"   "`), "data.text", RuleRequired, rej),
		in("chat text of newlines and tabs", cd(`"\n\t\n"`), "data.text", RuleRequired, rej),
		in("chat text of no-break and ideographic spaces", cd(`"\u00a0\u3000"`), "data.text", RuleRequired, rej),
		in("blank qa.ask text", ev(QAAsk, `{"text":" \n "}`), "data.text", RuleRequired, rej),
		in("blank poll question", po(`{"poll_id":"p","question":" ","options":["a","b"]}`), "data.question", RuleRequired, rej),
		in("blank quiz question", qa(`{"quiz_id":"z","question":"\u2003","options":["a","b"],"correct":0}`), "data.question", RuleRequired, rej),
		// Poll kinds (issue 16).
		in("poll.open unknown kind", po(`{"poll_id":"p","question":"q","options":["a","b"],"kind":"dots"}`), "data.kind", RuleEnum, rej),
		in("poll.open rating without scale", po(`{"poll_id":"p","question":"q","kind":"rating"}`), "data.scale", RuleRequired, rej),
		in("poll.open rating unknown scale", po(`{"poll_id":"p","question":"q","kind":"rating","scale":"1-7"}`), "data.scale", RuleEnum, rej),
		in("poll.open rating with options", po(`{"poll_id":"p","question":"q","kind":"rating","scale":"1-5","options":["a","b"]}`), "data.options", RuleUnknown, rej),
		in("poll.open text with options", po(`{"poll_id":"p","question":"q","kind":"text","options":["a","b"]}`), "data.options", RuleUnknown, rej),
		in("poll.open multi without options", po(`{"poll_id":"p","question":"q","kind":"multi"}`), "data.options", RuleRequired, rej),
		in("poll.open scale on a single poll", po(`{"poll_id":"p","question":"q","options":["a","b"],"scale":"1-5"}`), "data.scale", RuleUnknown, rej),
		in("poll.open max_picks on a ranking poll", po(`{"poll_id":"p","question":"q","options":["a","b"],"kind":"ranking","max_picks":1}`), "data.max_picks", RuleUnknown, rej),
		in("poll.open max_picks above the options", po(`{"poll_id":"p","question":"q","options":["a","b"],"kind":"multi","max_picks":3}`), "data.max_picks", RuleRange, acc),
		in("poll.open max_picks negative", po(`{"poll_id":"p","question":"q","options":["a","b"],"kind":"multi","max_picks":-1}`), "data.max_picks", RuleRange, rej),
		in("poll.open negative seconds", po(`{"poll_id":"p","question":"q","options":["a","b"],"seconds":-1}`), "data.seconds", RuleRange, rej),
		in("quiz.ask seconds over a day", qa(`{"quiz_id":"z","question":"q","options":["a","b"],"correct":0,"seconds":86401}`), "data.seconds", RuleRange, rej),
		in("poll.open stop_words on a text poll", po(`{"poll_id":"p","question":"q","kind":"text","stop_words":["en"]}`), "data.stop_words", RuleUnknown, rej),
		in("poll.open unknown stop-word language", po(`{"poll_id":"p","question":"q","kind":"cloud","stop_words":["xx"]}`), "data.stop_words[0]", RuleEnum, rej),
		in("poll.open stop-word language twice", po(`{"poll_id":"p","question":"q","kind":"cloud","stop_words":["en","en"]}`), "data.stop_words[1]", RuleUnique, rej),
		in("poll.open cloud with options", po(`{"poll_id":"p","question":"q","kind":"cloud","options":["a","b"]}`), "data.options", RuleUnknown, rej),
		in("poll.pick no options", ev(PollPick, `{"poll_id":"p","options":[]}`), "data.options", RuleLength, rej),
		in("poll.pick missing options", ev(PollPick, `{"poll_id":"p"}`), "data.options", RuleRequired, rej),
		in("poll.pick option twice", ev(PollPick, `{"poll_id":"p","options":[1,2,1]}`), "data.options[2]", RuleUnique, rej),
		in("poll.pick option 10", ev(PollPick, `{"poll_id":"p","options":[10]}`), "data.options[0]", RuleRange, rej),
		in("poll.pick option is a string", ev(PollPick, `{"poll_id":"p","options":["1"]}`), "data.options[0]", RuleType, rej),
		in("poll.rank eleven entries", ev(PollRank, `{"poll_id":"p","order":[0,1,2,3,4,5,6,7,8,9,0]}`), "data.order", RuleLength, rej),
		in("poll.rank option twice", ev(PollRank, `{"poll_id":"p","order":[0,0]}`), "data.order[1]", RuleUnique, rej),
		in("poll.rank missing poll_id", ev(PollRank, `{"order":[0]}`), "data.poll_id", RuleRequired, rej),
		in("poll.rate missing rating", ev(PollRate, `{"poll_id":"p"}`), "data.rating", RuleRequired, rej),
		in("poll.rate eleven", ev(PollRate, `{"poll_id":"p","rating":11}`), "data.rating", RuleRange, rej),
		in("poll.rate negative", ev(PollRate, `{"poll_id":"p","rating":-1}`), "data.rating", RuleRange, rej),
		in("poll.text blank", ev(PollTextAnswer, `{"poll_id":"p","answer":"  "}`), "data.answer", RuleRequired, rej),
		in("poll.text too long", ev(PollTextAnswer, `{"poll_id":"p","answer":`+q(rep("w", MaxPollTextLen+1))+`}`), "data.answer", RuleLength, rej),
		in("poll.text newline", ev(PollTextAnswer, `{"poll_id":"p","answer":"a\nb"}`), "data.answer", RuleChars, rej),
	}
}

// encodeList writes one vector per line, so diffs of the files stay small.
func encodeList[T any](t testing.TB, list []T) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, v := range list {
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		if i < len(list)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// generatedVectors returns file name → content of the golden vectors.
func generatedVectors(t testing.TB) map[string][]byte {
	valid := validVectors()
	for _, v := range valid {
		if len(v.Event) > MaxEventBytes {
			t.Fatalf("valid vector %q is %d bytes", v.Name, len(v.Event))
		}
	}
	return map[string][]byte{
		"valid.json":   encodeList(t, valid),
		"invalid.json": encodeList(t, invalidVectors()),
		"frames.json":  encodeList(t, frameCases()),
		// emoji.json lists every emoji schemas.IsEmoji accepts, so other
		// languages can check that they accept each one too.
		"emoji.json": encodeList(t, Emojis()),
		// emoji-refused.json lists the forms of those emoji without
		// U+FE0F (unqualified and minimally qualified, as keyboards and
		// old systems send them): every validator must refuse them.
		"emoji-refused.json": encodeList(t, unqualifiedEmojis()),
	}
}

// unqualifiedEmojis returns, for every emoji of the table written with
// U+FE0F, its forms without some or all of them that are not themselves
// in the table, sorted.
func unqualifiedEmojis() []string {
	seen := map[string]bool{}
	for _, e := range emojiTable {
		if !strings.Contains(e, "\uFE0F") {
			continue
		}
		forms := []string{strings.ReplaceAll(e, "\uFE0F", ""), strings.Replace(e, "\uFE0F", "", 1)}
		for _, f := range forms {
			if f != e && !inEmojiTable(f) {
				seen[f] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}
