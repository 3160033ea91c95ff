package schemas

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/encoding/json"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// Custom event types (issue 16): a deployment registers named event types,
// each with a JSON Schema for its data and a fold kind, in a registry file
// (--custom-types). Every role that reads events loads the same file, so
// ingest, the processors, the sink and replay agree on what is valid; the
// processors fold each type exactly once like the built-in kinds, into
// RoomState.Custom. The file format is documented in docs/custom.md.

// The fold kinds of a custom type.
const (
	// FoldCounter adds Amount (1, or a bounded integer field of the
	// data) to the event's key.
	FoldCounter = "counter"
	// FoldRegister keeps the last value (a field of the data, or all of
	// it) per key, by event position.
	FoldRegister = "register"
	// FoldDistinct counts the distinct users per key: a user counts once
	// per key, whatever they send again.
	FoldDistinct = "distinct"
)

// FoldKinds lists the fold kinds.
var FoldKinds = []string{FoldCounter, FoldRegister, FoldDistinct}

// Limits of custom types. MaxCustomStateBytes is a room's budget for the
// state of all its custom types together (encoded, keys and values): the
// processors dead-letter what would pass it (too_large), and the room's
// worst-case snapshot counts it.
const (
	CustomPrefix          = "custom."
	MaxCustomTypes        = 32
	MaxCustomTypeLen      = 48 // the whole name, prefix included
	MaxCustomKeyLen       = 64 // a key, in runes
	MaxCustomKeys         = 256
	DefaultCustomKeys     = 32
	MaxCustomValueBytes   = 1024
	DefaultCustomValue    = 256
	MaxCustomAmount       = 1_000_000
	MaxCustomSchemaBytes  = 64 << 10
	MaxCustomStateBytes   = 192 << 10
	MaxCustomTitleLen     = 64
	DefaultCustomKey      = "total" // the key of a type without a key field
	maxCustomRegistryFile = 1 << 20
)

// RuleSchema: the data of a custom type broke the type's JSON Schema.
const RuleSchema Rule = "schema"

// CustomType is one registered custom event type.
type CustomType struct {
	// Name is the event type, "custom." and 1-41 of [a-z0-9_-].
	Name Type `json:"name"`
	// Title is what UIs show (default: Name).
	Title string `json:"title,omitempty"`
	// Fold is counter, register or distinct.
	Fold string `json:"fold"`
	// Key names the data field (a string) the event counts under; empty
	// means one key, DefaultCustomKey.
	Key string `json:"key,omitempty"`
	// Keys, when set, are the only keys allowed, in display order.
	Keys []string `json:"keys,omitempty"`
	// Amount (counter only) names an integer data field, 1..MaxAmount,
	// added instead of 1.
	Amount    string `json:"amount,omitempty"`
	MaxAmount int64  `json:"max_amount,omitempty"`
	// Value (register only) names the data field kept; empty keeps all
	// of data. Its encoding is at most MaxValueBytes.
	Value         string `json:"value,omitempty"`
	MaxValueBytes int    `json:"max_value_bytes,omitempty"`
	// MaxKeys bounds the keys one room holds (default DefaultCustomKeys).
	MaxKeys int `json:"max_keys,omitempty"`
	// Capability a publisher needs: publish (default), host or moderate.
	Capability Capability `json:"capability,omitempty"`
	// Schema is the JSON Schema (draft 2020-12 unless it says) of data.
	Schema json.RawMessage `json:"schema"`

	schema *jsonschema.Schema
}

// Registry is a deployment's custom event types. A nil *Registry has
// none: every method works on it and sees only the built-in types.
type Registry struct {
	types map[Type]*CustomType
	order []*CustomType
}

type registryFile struct {
	Types []*CustomType `json:"types"`
}

// LoadRegistry reads a registry file (YAML or JSON) and checks it whole:
// every type's name, fold, fields, limits and JSON Schema. An empty path
// is no custom types (a nil Registry).
func LoadRegistry(path string) (*Registry, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("custom types: %w", err)
	}
	g, err := ParseRegistry(b)
	if err != nil {
		return nil, fmt.Errorf("custom types %s: %w", path, err)
	}
	return g, nil
}

// ParseRegistry parses and checks a registry document (YAML or JSON).
func ParseRegistry(b []byte) (*Registry, error) {
	if len(b) > maxCustomRegistryFile {
		return nil, fmt.Errorf("the file is %d bytes, the limit is %d", len(b), maxCustomRegistryFile)
	}
	// YAML 1.2 (yaml.v3): "n" and "no" stay strings, as in JSON.
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	js, err := stdjson.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("not a JSON-like document (mapping keys must be strings): %w", err)
	}
	var f registryFile
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w (fields: name, title, fold, key, keys, amount, max_amount, value, max_value_bytes, max_keys, capability, schema)", err)
	}
	if len(f.Types) == 0 {
		return nil, errors.New("no types: the file needs a list \"types\"")
	}
	if len(f.Types) > MaxCustomTypes {
		return nil, fmt.Errorf("%d types, the limit is %d", len(f.Types), MaxCustomTypes)
	}
	g := &Registry{types: map[Type]*CustomType{}}
	for i, t := range f.Types {
		if t == nil {
			return nil, fmt.Errorf("types[%d] is null", i)
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("types[%d] (%s): %w", i, truncate(string(t.Name), 60), err)
		}
		if _, dup := g.types[t.Name]; dup {
			return nil, fmt.Errorf("types[%d]: %s is registered twice", i, t.Name)
		}
		g.types[t.Name] = t
		g.order = append(g.order, t)
	}
	return g, nil
}

func isFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (t *CustomType) check() error {
	name := string(t.Name)
	if !strings.HasPrefix(name, CustomPrefix) || len(name) == len(CustomPrefix) || len(name) > MaxCustomTypeLen {
		return fmt.Errorf("name must be %q and 1-%d of a-z 0-9 _ -", CustomPrefix, MaxCustomTypeLen-len(CustomPrefix))
	}
	for _, c := range []byte(name[len(CustomPrefix):]) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("name must be %q and 1-%d of a-z 0-9 _ -", CustomPrefix, MaxCustomTypeLen-len(CustomPrefix))
		}
	}
	if t.Title == "" {
		t.Title = name
	}
	if err := checkText("title", t.Title, 1, MaxCustomTitleLen, false); err != nil {
		return err
	}
	switch t.Fold {
	case FoldCounter, FoldRegister, FoldDistinct:
	case "":
		return fmt.Errorf("fold is missing (one of %s)", strings.Join(FoldKinds, ", "))
	default:
		return fmt.Errorf("fold %q is not one of %s", truncate(t.Fold, 40), strings.Join(FoldKinds, ", "))
	}
	if t.Key != "" && !isFieldName(t.Key) {
		return fmt.Errorf("key %q is not a field name (1-64 of A-Z a-z 0-9 _)", truncate(t.Key, 40))
	}
	if t.MaxKeys == 0 {
		t.MaxKeys = DefaultCustomKeys
	}
	if t.MaxKeys < 1 || t.MaxKeys > MaxCustomKeys {
		return fmt.Errorf("max_keys %d is outside 1-%d", t.MaxKeys, MaxCustomKeys)
	}
	if len(t.Keys) > 0 {
		if t.Key == "" {
			return errors.New("keys needs key: the data field that names one of them")
		}
		if len(t.Keys) > t.MaxKeys {
			return fmt.Errorf("%d keys, more than max_keys %d", len(t.Keys), t.MaxKeys)
		}
		for i, k := range t.Keys {
			if err := checkCustomKey(k); err != nil {
				return fmt.Errorf("keys[%d]: %w", i, err)
			}
			for _, o := range t.Keys[:i] {
				if o == k {
					return fmt.Errorf("keys[%d] %q is listed twice", i, k)
				}
			}
		}
	}
	switch {
	case t.Amount != "" && t.Fold != FoldCounter:
		return errors.New("amount is for fold counter only")
	case t.Amount != "" && !isFieldName(t.Amount):
		return fmt.Errorf("amount %q is not a field name", truncate(t.Amount, 40))
	case t.Amount != "" && (t.MaxAmount < 1 || t.MaxAmount > MaxCustomAmount):
		return fmt.Errorf("amount needs max_amount in 1-%d", MaxCustomAmount)
	case t.Amount == "" && t.MaxAmount != 0:
		return errors.New("max_amount needs amount")
	case (t.Value != "" || t.MaxValueBytes != 0) && t.Fold != FoldRegister:
		return errors.New("value and max_value_bytes are for fold register only")
	case t.Value != "" && !isFieldName(t.Value):
		return fmt.Errorf("value %q is not a field name", truncate(t.Value, 40))
	}
	if t.Fold == FoldRegister {
		if t.MaxValueBytes == 0 {
			t.MaxValueBytes = DefaultCustomValue
		}
		if t.MaxValueBytes < 1 || t.MaxValueBytes > MaxCustomValueBytes {
			return fmt.Errorf("max_value_bytes %d is outside 1-%d", t.MaxValueBytes, MaxCustomValueBytes)
		}
	}
	switch t.Capability {
	case "":
		t.Capability = CapPublish
	case CapPublish, CapHost, CapModerate:
	default:
		return fmt.Errorf("capability %q is not publish, host or moderate", truncate(string(t.Capability), 40))
	}
	return t.compile()
}

// compile checks and compiles t's JSON Schema. Nothing is fetched: a
// $ref must point inside the document.
func (t *CustomType) compile() error {
	if len(t.Schema) == 0 || string(t.Schema) == "null" {
		return errors.New("schema is missing: the JSON Schema of the type's data")
	}
	if len(t.Schema) > MaxCustomSchemaBytes {
		return fmt.Errorf("schema is %d bytes, the limit is %d", len(t.Schema), MaxCustomSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(t.Schema))
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return errors.New("schema must be a JSON object")
	}
	if ty, _ := obj["type"].(string); ty != "object" {
		return errors.New(`schema must say "type": "object" (data is an object)`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	url := "urn:ovation:custom:" + string(t.Name)
	if err := c.AddResource(url, doc); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return fmt.Errorf("schema does not compile: %w", err)
	}
	t.schema = s
	return nil
}

// noLoader refuses every external document: a registry is checked whole
// at startup, from the file alone.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema refers to %s: only references inside the document are allowed", truncate(url, 80))
}

func checkCustomKey(k string) error {
	return checkText("key", k, 1, MaxCustomKeyLen, false)
}

// Type returns the registered type named t, or nil.
func (g *Registry) Type(t Type) *CustomType {
	if g == nil {
		return nil
	}
	return g.types[t]
}

// Types returns the registered types in file order.
func (g *Registry) Types() []*CustomType {
	if g == nil {
		return nil
	}
	return g.order
}

// RequiredCapability is the package's RequiredCapability, knowing g's
// types too.
func (g *Registry) RequiredCapability(t Type) Capability {
	if ct := g.Type(t); ct != nil {
		return ct.Capability
	}
	return RequiredCapability(t)
}

// CustomData is the decoded data of a custom event: the key it counts
// under, the amount (counter), the value (register), and the data itself
// (compact) for re-encoding.
type CustomData struct {
	T      *CustomType
	Key    string
	Amount int64
	Value  json.RawMessage
	raw    json.RawMessage
}

func (c *CustomData) validate(*fieldPath) error { return nil }

// MarshalJSON writes the data as checked (compact).
func (c *CustomData) MarshalJSON() ([]byte, error) { return c.raw, nil }

// decode validates data (an object that passed CheckShape and
// CheckDuplicateKeys, valid UTF-8 without lone surrogates) against t.
func (t *CustomType) decode(data []byte) (*CustomData, error) {
	// What decodeStrict checks for the built-in types (ingest validates
	// the body alone): the JSON Schema library's decoder would turn a
	// lone surrogate into U+FFFD, and consumers refuse it.
	if !utf8.Valid(data) {
		return nil, &ValidationError{Field: "data", Rule: RuleUTF8, Detail: "data is not valid UTF-8"}
	}
	if off := loneSurrogateAt(data); off >= 0 {
		return nil, &ValidationError{Field: joinPath("data", jsonPathAt(data, off)), Rule: RuleUTF8, Detail: fmt.Sprintf("escaped lone surrogate at byte %d", off)}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, &ValidationError{Field: "data", Rule: RuleJSON, Detail: "malformed JSON"}
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil, &ValidationError{Field: "data", Rule: RuleType, Detail: "expected an object"}
	}
	if err := t.schema.Validate(inst); err != nil {
		return nil, schemaError(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, &ValidationError{Field: "data", Rule: RuleJSON, Detail: "malformed JSON"}
	}
	c := &CustomData{T: t, Key: DefaultCustomKey, Amount: 1, raw: buf.Bytes()}
	if t.Key != "" {
		k, ok := obj[t.Key].(string)
		if !ok {
			return nil, &ValidationError{Field: "data." + t.Key, Rule: RuleType, Detail: "the key field must be a string"}
		}
		if err := checkCustomKey(k); err != nil {
			ve := err.(*ValidationError)
			ve.Field = "data." + t.Key
			return nil, ve
		}
		if len(t.Keys) > 0 && !containsString(t.Keys, k) {
			return nil, &ValidationError{Field: "data." + t.Key, Rule: RuleEnum, Detail: fmt.Sprintf("%q is not one of the type's keys", truncate(k, 40))}
		}
		c.Key = k
	}
	if t.Amount != "" {
		n, ok := obj[t.Amount].(stdjson.Number)
		if !ok {
			if _, present := obj[t.Amount]; !present {
				return nil, &ValidationError{Field: "data." + t.Amount, Rule: RuleRequired, Detail: "the amount field is missing"}
			}
			return nil, &ValidationError{Field: "data." + t.Amount, Rule: RuleType, Detail: "the amount field must be an integer"}
		}
		v, err := n.Int64()
		if err != nil || v < 1 || v > t.MaxAmount {
			return nil, &ValidationError{Field: "data." + t.Amount, Rule: RuleRange, Detail: fmt.Sprintf("the amount must be an integer in 1-%d", t.MaxAmount)}
		}
		c.Amount = v
	}
	if t.Fold == FoldRegister {
		var x any = obj // the whole data
		field := "data"
		if t.Value != "" {
			var ok bool
			if x, ok = obj[t.Value]; !ok {
				return nil, &ValidationError{Field: "data." + t.Value, Rule: RuleRequired, Detail: "the value field is missing"}
			}
			field += "." + t.Value
		}
		// HTML characters escaped, as the frames' codec writes them: the
		// limit holds for the value as viewers receive it.
		var vb bytes.Buffer
		if err := stdjson.NewEncoder(&vb).Encode(x); err != nil {
			return nil, &ValidationError{Field: field, Rule: RuleJSON, Detail: "the value does not encode"}
		}
		v := json.RawMessage(bytes.TrimSuffix(vb.Bytes(), []byte("\n")))
		if len(v) > t.MaxValueBytes {
			return nil, &ValidationError{Field: field, Rule: RuleLength, Detail: fmt.Sprintf("the value is %d bytes encoded, the limit is %d", len(v), t.MaxValueBytes)}
		}
		c.Value = v
	}
	return c, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// schemaError names the deepest failing location of a JSON Schema
// validation error.
func schemaError(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Field: "data", Rule: RuleSchema, Detail: truncate(err.Error(), 200)}
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	field := "data"
	for _, p := range ve.InstanceLocation {
		if p != "" && p[0] >= '0' && p[0] <= '9' {
			field += "[" + p + "]"
		} else {
			field += "." + truncate(p, 40)
		}
	}
	msg := ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))
	if msg == "" {
		msg = "does not match the type's schema"
	}
	return &ValidationError{Field: field, Rule: RuleSchema, Detail: truncate(msg, 200)}
}

// ParseEvent is the package's ParseEvent, knowing g's types too.
func (g *Registry) ParseEvent(b []byte) (Event, error) { return parseEvent(g, b) }

// ValidateBodyWith is ValidateBody knowing g's custom types too.
func (ev *Event) ValidateBodyWith(g *Registry) error { return ev.validateBody(g) }

// ValidateWith is Validate knowing g's custom types too.
func (ev *Event) ValidateWith(g *Registry) error { return ev.validate(g) }
