package kquiet

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWrap: franz-go's per-transaction and group lifecycle info lines go
// to debug, everything else stays where it was.
func TestWrap(t *testing.T) {
	rec := &recLogger{level: kgo.LogLevelInfo}
	q := Wrap(rec)
	for _, msg := range []string{"beginning transaction", "ending transaction", "end transaction response successfully received", "flushing", "joined, balancing group", "heartbeat errored"} {
		q.Log(kgo.LogLevelInfo, msg)
	}
	q.Log(kgo.LogLevelInfo, "transact session in on_revoke; aborting next commit if we are currently in a transaction")
	q.Log(kgo.LogLevelWarn, "ending transaction")
	if len(rec.lines) != 2 || rec.lines[0] != "INFO transact session in on_revoke; aborting next commit if we are currently in a transaction" || rec.lines[1] != "WARN ending transaction" {
		t.Fatalf("at info: %q", rec.lines)
	}
	rec = &recLogger{level: kgo.LogLevelDebug}
	Wrap(rec).Log(kgo.LogLevelInfo, "beginning transaction")
	if len(rec.lines) != 1 || rec.lines[0] != "DEBUG beginning transaction" {
		t.Fatalf("at debug: %q", rec.lines)
	}
}

type recLogger struct {
	level kgo.LogLevel
	lines []string
}

func (r *recLogger) Level() kgo.LogLevel { return r.level }
func (r *recLogger) Log(l kgo.LogLevel, msg string, _ ...any) {
	if l <= r.level {
		r.lines = append(r.lines, l.String()+" "+msg)
	}
}
