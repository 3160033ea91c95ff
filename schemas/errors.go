package schemas

import (
	"errors"
	"fmt"
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
		return &ValidationError{Field: join(te.Field), Rule: RuleType, Detail: fmt.Sprintf("expected %s, got JSON %s", te.Type.String(), te.Value)}
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		name := strings.Trim(msg[i+len("unknown field "):], `"`)
		return &ValidationError{Field: join(truncate(name, 40)), Rule: RuleUnknown, Detail: "field is not part of schema v1"}
	}
	return &ValidationError{Field: path, Rule: RuleJSON, Detail: "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
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
}

func (e *PublishError) Error() string {
	if e.Field != "" {
		return e.Code + ": " + e.Field + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}
