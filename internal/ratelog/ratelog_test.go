package ratelog

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestLimiter: a burst gets out, the rest is counted, and the count rides
// on the next line that gets out.
func TestLimiter(t *testing.T) {
	l := New()
	out := 0
	for range 1000 {
		if ok, _ := l.Allow(); ok {
			out++
		}
	}
	if out < Burst || out > Burst+2 {
		t.Fatalf("%d of 1000 lines got out at once, want about %d", out, Burst)
	}
	for {
		if ok, n := l.Allow(); ok {
			if n < int64(1000-out) {
				t.Fatalf("the next line carries %d suppressed, want at least %d", n, 1000-out)
			}
			return
		}
	}
}

// TestField: long fields are cut on a rune boundary and say their length.
func TestField(t *testing.T) {
	if got := Field("short"); got != "short" {
		t.Fatalf("Field(short) = %q", got)
	}
	long := strings.Repeat("é", 700_000)
	got := Field(long)
	if len(got) > MaxField+40 || !utf8.ValidString(got) || !strings.HasSuffix(got, "(1400000 bytes)") {
		t.Fatalf("Field(700k runes) = %q (%d bytes)", got[:min(len(got), 200)], len(got))
	}
}
