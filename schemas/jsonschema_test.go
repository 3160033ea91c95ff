package schemas

import (
	"bytes"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/encoding/json"
)

// These tests keep the JSON Schema documents under jsonschema/ and the Go
// validation in one meaning: the documents are checked against the Go
// constants and struct tags, their character classes against checkText
// for every code point, and a real JSON Schema 2020-12 validator runs every
// golden vector through them.

// re2 rewrites an ECMA-262 pattern's \uHHHH escapes in RE2's \x{HHHH}
// spelling; the patterns use nothing else outside the common subset.
func re2(p string) string {
	return regexp.MustCompile(`\\u([0-9a-fA-F]{4})`).ReplaceAllString(p, `\x{$1}`)
}

func loadSchemaDoc(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("jsonschema", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	return doc
}

// at follows a JSON pointer ("/a/b/0") through a decoded document.
func at(t testing.TB, doc any, ptr string) any {
	t.Helper()
	cur := doc
	for _, p := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				t.Fatalf("no %s (at %q)", ptr, p)
			}
			cur = v
		case []any:
			i := 0
			for _, ch := range p {
				i = i*10 + int(ch-'0')
			}
			cur = c[i]
		default:
			t.Fatalf("no %s (at %q)", ptr, p)
		}
	}
	return cur
}

func schemaFiles() []string {
	files := []string{"envelope.json"}
	for _, ty := range Types {
		files = append(files, string(ty)+".json")
	}
	return files
}

func compileSchemas(t testing.TB) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseRegexpEngine(func(s string) (jsonschema.Regexp, error) { return regexp.Compile(re2(s)) })
	for _, name := range schemaFiles() {
		f, err := os.Open(filepath.Join("jsonschema", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return c
}

// TestSchemaFilesCompile: every document parses, names itself by its file,
// declares draft 2020-12 and compiles (all $refs resolve).
func TestSchemaFilesCompile(t *testing.T) {
	c := compileSchemas(t)
	for _, name := range schemaFiles() {
		doc := loadSchemaDoc(t, name)
		if doc["$id"] != schemaBase+name {
			t.Errorf("%s: $id %v", name, doc["$id"])
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema %v", name, doc["$schema"])
		}
		if _, err := c.Compile(schemaBase + name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// jsonFields returns the JSON names of a struct's fields and which of them
// are required (no omitempty), as the Go decoder and validators see them.
func jsonFields(v any) (all, required []string) {
	rt := reflect.TypeOf(v)
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	for i := range rt.NumField() {
		tag := rt.Field(i).Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" {
			continue
		}
		all = append(all, name)
		if opts != "omitempty" {
			required = append(required, name)
		}
	}
	return all, required
}

func keys(m any) []string {
	var out []string
	for k := range m.(map[string]any) {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestSchemaMatchesGo checks every limit, enum, required list and property
// set in the documents against the Go constants and struct tags.
func TestSchemaMatchesGo(t *testing.T) {
	env := loadSchemaDoc(t, "envelope.json")
	all, req := jsonFields(Event{})
	if got := keys(at(t, env, "/properties")); !slices.Equal(got, sorted(all)) {
		t.Errorf("envelope properties %v, Go fields %v", got, all)
	}
	if got := strs(at(t, env, "/required")); !slices.Equal(got, sorted(req)) {
		t.Errorf("envelope required %v, Go %v", got, req)
	}
	if at(t, env, "/additionalProperties") != false {
		t.Error("envelope allows additional properties")
	}
	var types []string
	for _, ty := range Types {
		types = append(types, string(ty))
	}
	if got := strs(at(t, env, "/properties/type/enum")); !slices.Equal(got, sorted(types)) {
		t.Errorf("type enum %v, Go %v", got, types)
	}
	if n := len(at(t, env, "/allOf").([]any)); n != len(Types) {
		t.Errorf("envelope dispatches %d types, Go has %d", n, len(Types))
	}

	num := func(doc map[string]any, name, ptr string, want int) {
		t.Helper()
		got, ok := at(t, doc, ptr).(float64)
		if !ok || got != float64(want) {
			t.Errorf("%s %s = %v, Go says %d", name, ptr, at(t, doc, ptr), want)
		}
	}
	str := func(doc map[string]any, name, ptr, want string) {
		t.Helper()
		if got := at(t, doc, ptr); got != want {
			t.Errorf("%s %s = %v, Go says %q", name, ptr, got, want)
		}
	}
	num(env, "envelope", "/$defs/v/const", Version)
	num(env, "envelope", "/$defs/id/maxLength", MaxIDLen)
	num(env, "envelope", "/$defs/id/minLength", 1)
	str(env, "envelope", "/$defs/id/pattern", "^[A-Za-z0-9_.:-]{1,64}$")
	num(env, "envelope", "/$defs/room/maxLength", MaxRoomLen)
	str(env, "envelope", "/$defs/room/pattern", "^[A-Za-z0-9_.:-]{1,64}$")
	num(env, "envelope", "/$defs/user/maxLength", MaxUserLen)
	num(env, "envelope", "/$defs/ts/minimum", 1)
	if MaxIDLen != 64 || MaxRoomLen != 64 {
		t.Errorf("the id pattern above spells 64; update it with MaxIDLen %d / MaxRoomLen %d", MaxIDLen, MaxRoomLen)
	}
	if !strings.Contains(at(t, env, "/description").(string), "16384 bytes") || MaxEventBytes != 16384 {
		t.Errorf("envelope description does not state MaxEventBytes %d", MaxEventBytes)
	}

	d := "/$defs/data/properties/"
	limits := map[Type][]struct {
		ptr  string
		want int
	}{
		ChatMessage:    {{d + "text/maxLength", MaxChatLen}, {d + "text/minLength", 1}, {d + "name/maxLength", MaxNameLen}},
		Reaction:       {{d + "emoji/maxLength", MaxEmojiCodePoints}, {d + "emoji/minLength", 1}},
		ReactionRemove: {{d + "emoji/maxLength", MaxEmojiCodePoints}, {d + "emoji/minLength", 1}},
		PollOpen: {{d + "question/maxLength", MaxQuestionLen}, {d + "options/minItems", MinOptions}, {d + "options/maxItems", MaxOptions},
			{d + "options/items/maxLength", MaxOptionLen}, {d + "options/items/minLength", 1}},
		PollVote: {{d + "option/minimum", 0}, {d + "option/maximum", MaxOptions - 1}},
		QAAsk:    {{d + "text/maxLength", MaxQuestionLen}, {d + "text/minLength", 1}},
		QuizAsk: {{d + "question/maxLength", MaxQuestionLen}, {d + "options/minItems", MinOptions}, {d + "options/maxItems", MaxOptions},
			{d + "options/items/maxLength", MaxOptionLen}, {d + "correct/minimum", 0}, {d + "correct/maximum", MaxOptions - 1},
			{d + "points/minimum", 0}, {d + "points/maximum", MaxQuizPoints}},
		QuizAnswer:   {{d + "option/minimum", 0}, {d + "option/maximum", MaxOptions - 1}},
		Presence:     {{d + "viewers/minimum", 0}, {d + "viewers/maximum", MaxPresenceCount}},
		ModBan:       {{d + "reason/maxLength", MaxReasonLen}},
		ModTimeout:   {{d + "reason/maxLength", MaxReasonLen}, {d + "seconds/minimum", 1}, {d + "seconds/maximum", MaxTimeoutSeconds}},
		RoomControls: {{d + "slow_mode/minimum", 0}, {d + "slow_mode/maximum", MaxSlowModeSeconds}},
	}
	refs := map[Type]map[string]string{
		ChatMessage: {"text": "text", "name": "optionalLine"},
		ChatDelete:  {"message_id": "id"},
		PollOpen:    {"poll_id": "id", "question": "line"},
		PollVote:    {"poll_id": "id"},
		PollClose:   {"poll_id": "id"},
		QAAsk:       {"text": "text"},
		QAUpvote:    {"question_id": "id"},
		QAAnswered:  {"question_id": "id"},
		QuizAsk:     {"quiz_id": "id", "question": "line"},
		QuizAnswer:  {"quiz_id": "id"},
		QuizReveal:  {"quiz_id": "id"},
		Presence:    {"node": "id"},
		QARemove:    {"question_id": "id"},
		ModBan:      {"target": "user", "reason": "optionalLine"},
		ModTimeout:  {"target": "user", "reason": "optionalLine"},
		ModUnban:    {"target": "user"},
		ChatPin:     {"message_id": "id"},
		ModApprove:  {"id": "id"},
		ModReject:   {"id": "id"},
	}
	for _, ty := range Types {
		name := string(ty) + ".json"
		doc := loadSchemaDoc(t, name)
		all, req := jsonFields(newPayload(ty))
		if got := keys(at(t, doc, "/$defs/data/properties")); !slices.Equal(got, sorted(all)) {
			t.Errorf("%s data properties %v, Go fields %v", name, got, all)
		}
		if got := strs(at(t, doc, "/$defs/data/required")); !slices.Equal(got, sorted(req)) {
			t.Errorf("%s data required %v, Go %v", name, got, req)
		}
		if at(t, doc, "/$defs/data/additionalProperties") != false || at(t, doc, "/additionalProperties") != false {
			t.Errorf("%s allows additional properties", name)
		}
		str(doc, name, "/properties/type/const", string(ty))
		str(doc, name, "/x-required-capability", string(RequiredCapability(ty)))
		if got := strs(at(t, doc, "/required")); !slices.Equal(got, sorted(envelopeFields)) {
			t.Errorf("%s required %v", name, got)
		}
		for _, l := range limits[ty] {
			num(doc, name, l.ptr, l.want)
		}
		for field, def := range refs[ty] {
			str(doc, name, d+field+"/$ref", "envelope.json#/$defs/"+def)
		}
	}
}

// TestSchemaCharClasses checks the text patterns of envelope.json against
// the Go text rules code point by code point: a one-character string
// matches the pattern exactly when checkText accepts it.
func TestSchemaCharClasses(t *testing.T) {
	env := loadSchemaDoc(t, "envelope.json")
	rx := func(ptr string) *regexp.Regexp { return regexp.MustCompile(re2(at(t, env, ptr).(string))) }
	emoji := loadSchemaDoc(t, "reaction.json")
	cases := []struct {
		name string
		re   *regexp.Regexp
		ok   func(s string) bool
	}{
		{"text", rx("/$defs/text/pattern"), func(s string) bool { return checkText("data.text", s, 1, 1000, false) == nil }},
		{"line", rx("/$defs/line/pattern"), func(s string) bool { return checkText("data.question", s, 1, 1000, false) == nil }},
		{"user", rx("/$defs/user/pattern"), func(s string) bool { return CheckUser(s) == nil }},
		{"optionalLine", rx("/$defs/optionalLine/pattern"), func(s string) bool { return checkText("data.name", s, 0, 1000, false) == nil }},
	}
	// The emoji pattern only excludes white space and control characters:
	// it must accept every emoji Go accepts (Go's set is far narrower).
	emojiRe := regexp.MustCompile(re2(at(t, emoji, "/$defs/data/properties/emoji/pattern").(string)))
	for _, e := range emojiTable {
		if !emojiRe.MatchString(e) {
			t.Errorf("emoji pattern refuses the emoji %q", e)
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r = nextSample(r) {
		if (r < 0xD800 || r > 0xDFFF) && emojiRe.MatchString(string(r)) == (checkText("data.emoji", string(r), 0, 4, true) != nil || unicode.IsSpace(r)) {
			t.Errorf("emoji pattern: U+%04X: pattern says %v", r, emojiRe.MatchString(string(r)))
		}
	}
	// Every character the rules single out is below U+3100, so those are
	// all checked; above, a stride of 61 (plus the last code point) samples
	// the rest, which keeps the test fast under -race.
	for r := rune(0); r <= utf8.MaxRune; r = nextSample(r) {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		s := string(r)
		for _, c := range cases {
			if c.re.MatchString(s) != c.ok(s) {
				t.Errorf("%s: U+%04X: pattern says %v, Go says %v", c.name, r, c.re.MatchString(s), c.ok(s))
			}
		}
	}
	// Blank is about the whole string, not one character.
	for _, s := range []string{" a ", "a\u3000", "\u00a0", " \u2003 ", "a b", "\t\n", "a\nb"} {
		for _, c := range cases {
			if c.re.MatchString(s) != c.ok(s) {
				t.Errorf("%s: %q: pattern says %v, Go says %v", c.name, s, c.re.MatchString(s), c.ok(s))
			}
		}
	}
}

func nextSample(r rune) rune {
	switch {
	case r < 0x3100:
		return r + 1
	case r == utf8.MaxRune:
		return r + 1
	case r+61 > utf8.MaxRune:
		return utf8.MaxRune
	}
	return r + 61
}

// TestSchemaVectors runs every golden vector through a JSON Schema 2020-12
// validator with envelope.json: valid vectors pass (and pass their type's
// document), and each invalid vector gets the verdict its schema field
// records, so the gaps between the documents and Go are exactly the ones
// listed in docs/events.md.
func TestSchemaVectors(t *testing.T) {
	c := compileSchemas(t)
	envelope, err := c.Compile(schemaBase + "envelope.json")
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]*jsonschema.Schema{}
	for _, ty := range Types {
		if byType[string(ty)], err = c.Compile(schemaBase + string(ty) + ".json"); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range readVectors[validVector](t, "valid.json") {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(v.Event))
		if err != nil {
			t.Fatal(err)
		}
		if err := envelope.Validate(inst); err != nil {
			t.Errorf("%s: envelope.json rejects a valid event: %v", v.Name, err)
		}
		ty := inst.(map[string]any)["type"].(string)
		if err := byType[ty].Validate(inst); err != nil {
			t.Errorf("%s: %s.json rejects a valid event: %v", v.Name, ty, err)
		}
	}
	verdicts := map[string]int{}
	for _, v := range readVectors[invalidVector](t, "invalid.json") {
		raw := v.raw()
		verdicts[v.Schema]++
		isJSON := utf8.Valid(raw) && stdjson.Valid(raw)
		if v.Schema == "n/a" {
			if isJSON {
				t.Errorf("%s: marked n/a but is JSON text", v.Name)
			}
			continue
		}
		if !isJSON {
			t.Errorf("%s: not JSON text but marked %s", v.Name, v.Schema)
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		err = envelope.Validate(inst)
		switch {
		case v.Schema == "rejects" && err == nil:
			t.Errorf("%s: envelope.json accepts it (Go: field %q rule %s)", v.Name, v.Field, v.Rule)
		case v.Schema == "accepts" && err != nil:
			t.Errorf("%s: marked accepts, but envelope.json rejects it: %v", v.Name, err)
		case v.Schema != "rejects" && v.Schema != "accepts":
			t.Errorf("%s: schema verdict %q", v.Name, v.Schema)
		}
	}
	t.Logf("invalid vectors by JSON Schema verdict: %v", verdicts)
}
