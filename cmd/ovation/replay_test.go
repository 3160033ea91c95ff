package main

import (
	"slices"
	"testing"
)

// TestTakeInto checks that --into is found in every spelling and removed,
// so each replay target parses only its own flags.
func TestTakeInto(t *testing.T) {
	for _, c := range []struct {
		args []string
		into string
		rest []string
	}{
		{[]string{"--into", "epoch", "--rooms", "a"}, "epoch", []string{"--rooms", "a"}},
		{[]string{"--rooms", "a", "-into=clickhouse"}, "clickhouse", []string{"--rooms", "a"}},
		{[]string{"--topic", "t", "--into=epoch"}, "epoch", []string{"--topic", "t"}},
		{[]string{"--topic", "into"}, "", []string{"--topic", "into"}},
	} {
		into, rest, err := takeInto(c.args)
		if err != nil || into != c.into || !slices.Equal(rest, c.rest) {
			t.Errorf("takeInto(%q) = %q %q %v, want %q %q", c.args, into, rest, err, c.into, c.rest)
		}
	}
	if _, _, err := takeInto([]string{"--into"}); err == nil {
		t.Error("--into without a value accepted")
	}
}
