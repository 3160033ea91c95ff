package ingest

import (
	"context"
	"log/slog"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/ratelog"
	"github.com/ovation-live/ovation/schemas"
)

// refusalLog writes one line per refused request (or per request with
// refused events), rate-limited by internal/ratelog. Safe for concurrent
// use.
type refusalLog struct {
	log *slog.Logger
	lim *ratelog.Limiter
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, lim: ratelog.New()}
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
	ok, suppressed := l.lim.Allow()
	if !ok {
		return
	}
	attrs := []slog.Attr{
		slog.String("remote", remote),
		slog.String("room", ratelog.Field(room)),
		slog.String("code", pe.Code),
	}
	if claims != nil {
		attrs = append(attrs, slog.String("user", ratelog.Field(claims.User())))
	}
	if pe.Field != "" {
		attrs = append(attrs, slog.String("field", ratelog.Field(pe.Field)))
	}
	if why != "" {
		attrs = append(attrs, slog.String("err", ratelog.Field(why)))
	} else {
		attrs = append(attrs, slog.String("detail", ratelog.Field(pe.Message)))
	}
	if n > 1 {
		attrs = append(attrs, slog.Int("refused", refused), slog.Int("events", n))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	l.log.LogAttrs(ctx, level, "publish refused", attrs...)
}
