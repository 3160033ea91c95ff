package schemas

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

type fieldPath struct{ prefix string }

// dataPath is the path of an event's data, the only one validate runs on.
var dataPath = &fieldPath{prefix: "data."}

// fieldNames caches prefix+name for the field names of this package's
// validators (a few dozen constants), so validating an event does not
// build "data.text" anew for every check: that was one allocation in
// eight on ingest's hot path. The map is replaced, never changed, when
// a name is added; fieldNamesMu orders the additions.
var (
	fieldNames   atomic.Pointer[map[string]string]
	fieldNamesMu sync.Mutex
)

func (f *fieldPath) name(n string) string {
	if f.prefix != dataPath.prefix {
		return f.prefix + n
	}
	// The names of the most published bodies, without the map.
	switch n {
	case "text":
		return "data.text"
	case "name":
		return "data.name"
	case "emoji":
		return "data.emoji"
	case "poll_id":
		return "data.poll_id"
	case "option":
		return "data.option"
	case "question_id":
		return "data.question_id"
	}
	if m := fieldNames.Load(); m != nil {
		if s, ok := (*m)[n]; ok {
			return s
		}
	}
	fieldNamesMu.Lock()
	defer fieldNamesMu.Unlock()
	old := fieldNames.Load()
	if old != nil {
		if s, ok := (*old)[n]; ok {
			return s
		}
		if len(*old) >= 256 {
			// Not one of the constant names (none are built at run
			// time today): do not let the cache grow with them.
			return f.prefix + n
		}
	}
	m := make(map[string]string, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	s := f.prefix + n
	m[n] = s
	fieldNames.Store(&m)
	return s
}

func lenOf(m *map[string]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// isIDByte reports whether c may appear in an id: letters, digits and
// "-_.:" only, so ids are safe in URLs, headers, logs and SQL literals.
func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':'
}

func checkIDLike(field, v string, max int) error {
	if v == "" {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is missing"}
	}
	if len(v) > max {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d bytes, the limit is %d", len(v), max)}
	}
	for i := 0; i < len(v); i++ {
		if !isIDByte(v[i]) {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("byte %d is %q; allowed are letters, digits and - _ . :", i, v[i])}
		}
	}
	return nil
}

func checkID(field, v string) error { return checkIDLike(field, v, MaxIDLen) }

// CheckID validates an idempotency key or entity id.
func CheckID(v string) error { return checkID("id", v) }

// CheckRoom validates a room id (1–64 bytes of letters, digits, - _ . :).
func CheckRoom(room string) error { return checkIDLike("room", room, MaxRoomLen) }

// CheckUser validates a user id as it comes from a token's sub claim:
// 1–128 bytes of valid UTF-8 without control characters.
func CheckUser(user string) error {
	return checkText("user", user, 1, MaxUserLen, true)
}

// checkText validates free text: valid UTF-8, no control characters
// (newlines and tabs only where multiline is allowed), no line separators
// or bidirectional controls, at most MaxCombiningMarks marks on a
// character, a length in runes between min and max (bytes when
// bytesLimit), and, when required (min > 0), not blank: not only white
// space and invisible characters (text.go).
func checkText(field, v string, min, max int, bytesLimit bool) error {
	if v == "" && min > 0 {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is missing"}
	}
	if !utf8.ValidString(v) {
		return &ValidationError{Field: field, Rule: RuleUTF8, Detail: "not valid UTF-8"}
	}
	n, marks := 0, 0
	// Printable ASCII, most of most text, eight bytes at a time: none of
	// the rules below apply to it.
	at := 0
	for len(v)-at >= 8 && printable8(load8(v[at:])) {
		at += 8
	}
	n = at
	for i, r := range v[at:] {
		i += at
		if r >= 0x20 && r < 0x7f {
			// Printable ASCII, most of most text: none of the rules below.
			marks = 0
			n++
			continue
		}
		if unicode.IsControl(r) && !(field == "data.text" && (r == '\n' || r == '\t')) {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("control character U+%04X at byte %d", r, i)}
		}
		if r == '\u2028' || r == '\u2029' {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("character U+%04X at byte %d is not allowed", r, i)}
		}
		if isBidiControl(r) {
			return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("bidirectional control character U+%04X at byte %d is not allowed", r, i)}
		}
		switch {
		case isCombiningMark(r):
			if marks++; marks > MaxCombiningMarks {
				return &ValidationError{Field: field, Rule: RuleChars, Detail: fmt.Sprintf("more than %d combining marks on one character at byte %d", MaxCombiningMarks, i)}
			}
		case r >= 0x80 && unicode.Is(unicode.Cf, r):
			// A joiner inside a run of marks does not end it.
		default:
			marks = 0
		}
		n++
	}
	if bytesLimit {
		n = len(v)
	}
	if n < min {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("too short: %d, the minimum is %d", n, min)}
	}
	if n > max {
		unit := "characters"
		if bytesLimit {
			unit = "bytes"
		}
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d %s, the limit is %d", n, unit, max)}
	}
	if min > 0 && isBlank(v) {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is blank"}
	}
	return nil
}

// printable8 reports whether all eight bytes of x are printable ASCII
// (0x20 to 0x7e), with the "has a byte less than" tests, which are exact.
func printable8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	del := x ^ (ones * 0x7f)
	bad := x | (x-ones*0x20)&^x | (del-ones)&^del
	return bad&highs == 0
}

// load8 reads the first eight bytes of s as a little-endian word (the
// compiler makes this one load).
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func checkOptions(f *fieldPath, opts []string) error {
	field := f.name("options")
	if opts == nil {
		return &ValidationError{Field: field, Rule: RuleRequired, Detail: field + " is missing"}
	}
	if len(opts) < MinOptions || len(opts) > MaxOptions {
		return &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("%d options, allowed are %d to %d", len(opts), MinOptions, MaxOptions)}
	}
	for i, o := range opts {
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), o, 1, MaxOptionLen, false); err != nil {
			return err
		}
	}
	return nil
}

func checkOption(f *fieldPath, opt int) error {
	if opt < 0 || opt >= MaxOptions {
		return &ValidationError{Field: f.name("option"), Rule: RuleRange, Detail: fmt.Sprintf("option %d is outside 0..%d", opt, MaxOptions-1)}
	}
	return nil
}

// requiredNumbers is implemented by payloads with required numeric fields.
// A missing number decodes as 0, which is a valid value (option 0, zero
// viewers), so presence has to be checked on the object itself.
type requiredNumbers interface{ requiredNumbers() []string }

// The lists are package variables: a slice literal returned from a method
// is a heap allocation per call.
var (
	numOption  = []string{"option"}
	numCorrect = []string{"correct"}
	numViewers = []string{"viewers"}
)

func (*PollVoteData) requiredNumbers() []string   { return numOption }
func (*QuizAskData) requiredNumbers() []string    { return numCorrect }
func (*QuizAnswerData) requiredNumbers() []string { return numOption }
func (*PresenceData) requiredNumbers() []string   { return numViewers }

// checkPresent reports the first of keys that obj (a JSON object that
// already decoded cleanly) lacks or sets to null. It reads the object's
// keys in place (hasValue) rather than decoding it into a map, which cost
// a quarter of ingest's validation.
func checkPresent(obj []byte, prefix string, keys []string) error {
	for _, k := range keys {
		if !hasValue(obj, k) {
			return &ValidationError{Field: prefix + k, Rule: RuleRequired, Detail: prefix + k + " is missing"}
		}
	}
	return nil
}

// hasValue reports whether the JSON object obj (valid JSON) has the key,
// compared decoded, at its top level with a value other than null.
func hasValue(obj []byte, key string) bool {
	depth := 0
	expectKey := false
	for i := 0; i < len(obj); i++ {
		switch obj[i] {
		case '"':
			j := stringEnd(obj, i)
			if depth == 1 && expectKey && keyEqual(obj[i+1:min(j, len(obj))], []byte(key)) {
				v := skipSpace(obj, j+1)
				if v < len(obj) && obj[v] == ':' {
					v = skipSpace(obj, v+1)
				}
				return !hasPrefixAt(obj, v, "null")
			}
			expectKey = false
			i = j
		case '{', '[':
			depth++
			expectKey = obj[i] == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		}
	}
	return false
}

func (d *ChatMessageData) validate(f *fieldPath) error {
	if err := checkText(f.name("text"), d.Text, 1, MaxChatLen, false); err != nil {
		return err
	}
	return checkText(f.name("name"), d.Name, 0, MaxNameLen, false)
}

func (d *ChatDeleteData) validate(f *fieldPath) error {
	return checkID(f.name("message_id"), d.MessageID)
}

func (d *ReactionData) validate(f *fieldPath) error { return checkEmoji(f.name("emoji"), d.Emoji) }

func (d *ReactionRemoveData) validate(f *fieldPath) error {
	return checkEmoji(f.name("emoji"), d.Emoji)
}

func (d *RoomCloseData) validate(*fieldPath) error { return nil }

func (d *QARemoveData) validate(f *fieldPath) error {
	return checkID(f.name("question_id"), d.QuestionID)
}

func (d *PollOpenData) validate(f *fieldPath) error {
	if err := checkID(f.name("poll_id"), d.PollID); err != nil {
		return err
	}
	if err := checkText(f.name("question"), d.Question, 1, MaxQuestionLen, false); err != nil {
		return err
	}
	if err := d.validatePollKind(f); err != nil {
		return err
	}
	return checkSeconds(f, d.Seconds)
}

func (d *PollVoteData) validate(f *fieldPath) error {
	if err := checkID(f.name("poll_id"), d.PollID); err != nil {
		return err
	}
	return checkOption(f, d.Option)
}

func (d *PollCloseData) validate(f *fieldPath) error { return checkID(f.name("poll_id"), d.PollID) }

func (d *QAAskData) validate(f *fieldPath) error {
	return checkText(f.name("text"), d.Text, 1, MaxQuestionLen, false)
}

func (d *QAUpvoteData) validate(f *fieldPath) error {
	return checkID(f.name("question_id"), d.QuestionID)
}

func (d *QAAnsweredData) validate(f *fieldPath) error {
	return checkID(f.name("question_id"), d.QuestionID)
}

func (d *QuizAskData) validate(f *fieldPath) error {
	if err := checkID(f.name("quiz_id"), d.QuizID); err != nil {
		return err
	}
	if err := checkText(f.name("question"), d.Question, 1, MaxQuestionLen, false); err != nil {
		return err
	}
	if err := checkOptions(f, d.Options); err != nil {
		return err
	}
	if d.Correct < 0 || d.Correct >= len(d.Options) {
		return &ValidationError{Field: f.name("correct"), Rule: RuleRange, Detail: fmt.Sprintf("correct option %d is outside 0..%d", d.Correct, len(d.Options)-1)}
	}
	if d.Points < 0 || d.Points > MaxQuizPoints {
		return &ValidationError{Field: f.name("points"), Rule: RuleRange, Detail: fmt.Sprintf("points %d is outside 0..%d (0 means 1)", d.Points, MaxQuizPoints)}
	}
	return checkSeconds(f, d.Seconds)
}

func (d *QuizAnswerData) validate(f *fieldPath) error {
	if err := checkID(f.name("quiz_id"), d.QuizID); err != nil {
		return err
	}
	return checkOption(f, d.Option)
}

func (d *QuizRevealData) validate(f *fieldPath) error { return checkID(f.name("quiz_id"), d.QuizID) }

func (d *PresenceData) validate(f *fieldPath) error {
	if err := checkID(f.name("node"), d.Node); err != nil {
		return err
	}
	if d.Viewers < 0 || d.Viewers > MaxPresenceCount {
		return &ValidationError{Field: f.name("viewers"), Rule: RuleRange, Detail: fmt.Sprintf("viewers %d is outside 0..%d", d.Viewers, MaxPresenceCount)}
	}
	return nil
}
