package schemas

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocExamples parses every example event in docs/events.md: each type
// section's example must be a valid event of that type, so the page
// cannot drift from the decoder.
func TestDocExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	block := regexp.MustCompile("(?s)```json\n(.*?)\n```")
	seen := map[Type]bool{}
	for _, sec := range strings.Split(doc, "\n### ")[1:] {
		name := Type(strings.TrimSpace(strings.SplitN(sec, "\n", 2)[0]))
		if newPayload(name) == nil {
			t.Errorf("section %q is not an event type", name)
			continue
		}
		m := block.FindStringSubmatch(sec)
		if m == nil {
			t.Errorf("section %s has no example", name)
			continue
		}
		ev, err := ParseEvent([]byte(m[1]))
		if err != nil {
			t.Errorf("%s example: %v", name, err)
			continue
		}
		if ev.Type != name {
			t.Errorf("%s example is a %s", name, ev.Type)
		}
		seen[name] = true
	}
	for _, ty := range Types {
		if !seen[ty] {
			t.Errorf("docs/events.md has no example for %s", ty)
		}
		if !strings.Contains(doc, "| `"+string(ty)+"` | "+string(RequiredCapability(ty))) {
			t.Errorf("docs/events.md capability table does not say %s needs %s", ty, RequiredCapability(ty))
		}
	}
}
