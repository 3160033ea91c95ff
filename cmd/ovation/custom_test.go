package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCustomTypesRefusedAtStartup: every role that loads --custom-types
// stops at startup on a bad file, with an error naming the flag, the
// type and the problem, before it connects to anything.
func TestCustomTypesRefusedAtStartup(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("types:\n  - name: custom.hype\n    fold: sum\n    schema: {type: object}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"ingest", "process", "push", "sink", "replay"} {
		var out, errOut bytes.Buffer
		args := []string{role, "--kafka-brokers", "127.0.0.1:1", "--http-addr", "127.0.0.1:0", "--custom-types", bad}
		if role == "replay" {
			args = append(args, "--into", "clickhouse")
		}
		code := run(args, &out, &errOut)
		msg := errOut.String()
		if code == 0 || !strings.Contains(msg, "--custom-types") || !strings.Contains(msg, `types[0] (custom.hype): fold "sum" is not one of counter, register, distinct`) {
			t.Errorf("%s: exit %d, stderr %q", role, code, msg)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"process", "--kafka-brokers", "127.0.0.1:1", "--custom-types", filepath.Join(dir, "missing.yaml")}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "missing.yaml") {
		t.Errorf("a missing file: exit %d, stderr %q", code, errOut.String())
	}
}
