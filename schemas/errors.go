package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"
)

// Rule names the validation rule an event broke. Rules are stable strings:
// golden vectors, HTTP error bodies and dead-letter headers carry them.
type Rule string

// The validation rules.
const (
	RuleJSON     Rule = "json"     // not JSON, or trailing data
	RuleType     Rule = "type"     // a field has the wrong JSON type
	RuleUnknown  Rule = "unknown"  // a field that v1 does not define
	RuleRequired Rule = "required" // a required field is missing or empty
	RuleVersion  Rule = "version"  // unsupported schema version
	RuleEnum     Rule = "enum"     // a value outside its set (event type)
	RuleUTF8     Rule = "utf8"     // invalid UTF-8
	RuleChars    Rule = "chars"    // characters a field does not allow
	RuleLength   Rule = "length"   // too long or too short
	RuleRange    Rule = "range"    // a number outside its range
	RuleSize     Rule = "size"     // the whole event is over MaxEventBytes
	RuleEmoji    Rule = "emoji"    // not exactly one fully-qualified RGI emoji
	RuleUnique   Rule = "unique"   // a list names the same entry twice (poll picks, ranking)
)

// ValidationError says which field of an event broke which rule.
type ValidationError struct {
	Field  string // JSON path such as "data.options[2]"; empty for the whole event
	Rule   Rule
	Detail string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("invalid event (%s): %s", e.Rule, e.Detail)
	}
	return fmt.Sprintf("invalid event: field %s (%s): %s", e.Field, e.Rule, e.Detail)
}

// AsValidationError returns err's *ValidationError, if it has one.
func AsValidationError(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}

// jsonError turns a decoder error into a ValidationError naming the field.
// The decoder's messages quote the input around the error; Detail must not,
// because it ends up in logs, DLQ headers and HTTP bodies, so only the kind
// of the offending value is kept.
func jsonError(path string, err error) error {
	join := func(f string) string {
		if path == "" {
			return f
		}
		if f == "" {
			return path
		}
		return path + "." + f
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &ValidationError{Field: join(indexPath(te.Field)), Rule: RuleType, Detail: fmt.Sprintf("expected %s, got %s", jsonKind(te.Type), valueKind(te.Value, jsonKind(te.Type) == "an integer"))}
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		name := strings.Trim(msg[i+len("unknown field "):], `"`)
		return &ValidationError{Field: join(truncate(name, 40)), Rule: RuleUnknown, Detail: "field is not part of schema v1"}
	}
	msg = strings.TrimPrefix(msg, "json: ")
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The decoder appends ": <the input from the error on>".
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[:i]
		}
	}
	return &ValidationError{Field: path, Rule: RuleJSON, Detail: "malformed JSON: " + truncate(msg, 80)}
}

// indexPath rewrites the decoder's "options.1" as "options[1]", the form
// the validators use, so one field has one name whatever rule it broke.
func indexPath(f string) string {
	if f == "" {
		return f
	}
	parts := strings.Split(f, ".")
	var b strings.Builder
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a value"
}

// valueKind names the kind of JSON value the decoder quoted in an
// UnmarshalTypeError, without repeating the value.
func valueKind(v string, wantInt bool) string {
	if strings.HasPrefix(v, "number ") && strings.HasSuffix(v, " overflows") {
		return "a number out of range"
	}
	if u, err := strconv.Unquote(v); err == nil {
		v = u
	}
	v = strings.TrimLeft(v, " \t\r\n")
	if v == "" {
		return "nothing"
	}
	switch c := v[0]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		if wantInt {
			// Integers are written without a fraction or exponent: 1, not 1.0 or 1e0.
			return "a number with a fraction or exponent"
		}
		return "a number"
	}
	return "an invalid value"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the error itself stays valid UTF-8.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// PublishError is why ingest refused an event, in the form every publishing
// path (HTTP, WebSocket) puts on the wire. Code is a stable machine-readable
// string; Status is the HTTP status ingest answers with.
type PublishError struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"` // seconds
	// Until (ms) is when a timeout that refused the event ends (code
	// banned; docs/moderation.md).
	Until int64 `json:"until,omitempty"`
}

func (e *PublishError) Error() string {
	if e.Field != "" {
		return e.Code + ": " + e.Field + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}
