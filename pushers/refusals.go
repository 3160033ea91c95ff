package pushers

import (
	"log/slog"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Refusal logging: a refused connection, message, request or token (and a
// publish the ingest path failed, one per publish in a Kafka outage) is
// logged once,
// as one line, with every field truncated to maxLogField bytes, and at
// most refusalLogRate lines a second over the whole server (burst
// refusalLogBurst). Lines over the rate are counted and the count rides on
// the next line that gets out, so a flood of bad input costs the log a few
// lines a second, never megabytes (a 700 KB kid, a million bad frames).
const (
	refusalLogRate  = 5
	refusalLogBurst = 20
	maxLogField     = 128
)

type refusalLog struct {
	log        *slog.Logger
	lim        *rate.Limiter
	suppressed atomic.Int64
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, lim: rate.NewLimiter(refusalLogRate, refusalLogBurst)}
}

// warn logs msg with args (slog key/value pairs) if the rate allows;
// string and error values are truncated.
func (l *refusalLog) warn(msg string, args ...any) {
	if !l.lim.Allow() {
		l.suppressed.Add(1)
		return
	}
	for i := 1; i < len(args); i += 2 {
		switch v := args[i].(type) {
		case string:
			args[i] = truncField(v)
		case error:
			args[i] = truncField(v.Error())
		}
	}
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed_before", n)
	}
	l.log.Warn(msg, args...)
}

// truncField cuts s to maxLogField bytes at a rune boundary and says how
// long it was.
func truncField(s string) string {
	if len(s) <= maxLogField {
		return s
	}
	n := maxLogField
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
