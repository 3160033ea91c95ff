package pushers

import (
	"log/slog"

	"github.com/ovation-live/ovation/internal/ratelog"
)

// refusalLog logs a refused connection, message, request or token (and a
// publish the ingest path failed, one per publish in a Kafka outage) once,
// as one warning, with every string field cut by internal/ratelog and at
// most ratelog.Rate lines a second over the whole server; the count of
// lines over the rate rides on the next line that gets out.
type refusalLog struct {
	log *slog.Logger
	lim *ratelog.Limiter
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, lim: ratelog.New()}
}

// warn logs msg with args (slog key/value pairs) if the rate allows;
// string and error values are truncated.
func (l *refusalLog) warn(msg string, args ...any) {
	ok, suppressed := l.lim.Allow()
	if !ok {
		return
	}
	for i := 1; i < len(args); i += 2 {
		switch v := args[i].(type) {
		case string:
			args[i] = ratelog.Field(v)
		case error:
			args[i] = ratelog.Field(v.Error())
		}
	}
	if suppressed > 0 {
		args = append(args, "suppressed_before", suppressed)
	}
	l.log.Warn(msg, args...)
}
