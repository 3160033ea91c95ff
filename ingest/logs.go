package ingest

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// Refusal log limits: at most refusalLogRate lines per second (bursts of
// refusalLogBurst); lines over it are counted and the count goes out with
// the next line that is written, so a flood costs the log a few lines a
// second whatever its size.
const (
	refusalLogRate  = 5
	refusalLogBurst = 20
	// maxLogField bounds a client-controlled string in a log line.
	maxLogField = 128
)

// refusalLog writes one line per refused request (or per request with
// refused events), rate-limited. Safe for concurrent use.
type refusalLog struct {
	log        *slog.Logger
	lim        *rate.Limiter
	suppressed atomic.Int64
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, lim: rate.NewLimiter(refusalLogRate, refusalLogBurst)}
}

// refused logs that refused of n events of a request were refused, pe
// being the first refusal; why is the verifier's reason for an
// authentication failure. Refusals a client may be probing with (bad or
// expired tokens, missing capabilities) are Info; the rest, client bugs,
// Debug.
func (l *refusalLog) refused(remote string, claims *auth.Claims, room string, pe *schemas.PublishError, why string, refused, n int) {
	if pe == nil {
		return
	}
	level := slog.LevelDebug
	switch pe.Code {
	case CodeUnauthorized, CodeTokenExpired, CodeForbidden, CodeTooManyRooms:
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	if !l.lim.Allow() {
		l.suppressed.Add(1)
		return
	}
	attrs := []slog.Attr{
		slog.String("remote", remote),
		slog.String("room", logField(room)),
		slog.String("code", pe.Code),
	}
	if claims != nil {
		attrs = append(attrs, slog.String("user", logField(claims.User())))
	}
	if pe.Field != "" {
		attrs = append(attrs, slog.String("field", logField(pe.Field)))
	}
	if why != "" {
		attrs = append(attrs, slog.String("err", logField(why)))
	} else {
		attrs = append(attrs, slog.String("detail", logField(pe.Message)))
	}
	if n > 1 {
		attrs = append(attrs, slog.Int("refused", refused), slog.Int("events", n))
	}
	if k := l.suppressed.Swap(0); k > 0 {
		attrs = append(attrs, slog.Int64("suppressed", k))
	}
	l.log.LogAttrs(ctx, level, "publish refused", attrs...)
}

// logField cuts a client-controlled string to maxLogField bytes on a rune
// boundary, saying how long it was.
func logField(s string) string {
	if len(s) <= maxLogField {
		return s
	}
	n := maxLogField
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
