package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/schemas"
)

// APIConfig configures the query API.
type APIConfig struct {
	// ClickHouse is where the sink writes.
	ClickHouse ClickHouseConfig
	// Verifier checks bearer tokens. Required.
	Verifier *auth.Verifier
	// Log defaults to slog.Default().
	Log *slog.Logger
	// MaxPoints caps the buckets of one time series; default 10,080 (a
	// week per minute, 2.8 hours per second).
	MaxPoints int
	// MaxRange caps the range of a summary; default 400 days.
	MaxRange time.Duration
	// QueryTimeout bounds each request's queries; default 15 s.
	QueryTimeout time.Duration
}

func (c *APIConfig) withDefaults() {
	c.ClickHouse = c.ClickHouse.withDefaults()
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxPoints == 0 {
		c.MaxPoints = 7 * 24 * 60
	}
	if c.MaxRange == 0 {
		c.MaxRange = 400 * 24 * time.Hour
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 15 * time.Second
	}
}

// Validate checks c after applying defaults.
func (c APIConfig) Validate() error {
	c.withDefaults()
	if c.Verifier == nil {
		return fmt.Errorf("%w: the analytics API needs a token verifier", ErrConfig)
	}
	if c.MaxPoints < 1 || c.MaxRange <= 0 {
		return fmt.Errorf("%w: MaxPoints and MaxRange must be positive", ErrConfig)
	}
	return c.ClickHouse.Validate()
}

// API serves a room's analytics over HTTP. Summary and time series need the
// host capability in the room (they are the producer's numbers); chat
// history needs subscribe, since any viewer saw those messages.
//
// Every value a request carries is validated against a strict grammar and
// reaches ClickHouse only as a bound parameter; identifiers in SQL come
// from fixed tables in this file.
type API struct {
	cfg  APIConfig
	conn driver.Conn
	db   string
	// shardEvents is the events table a subquery reads on the shard that
	// runs it: in cluster mode the local table (a room's rows, deletions
	// included, are all on its shard, so a local IN is exact, and
	// ClickHouse refuses an IN over a Distributed table inside a
	// distributed query); on one server, events.
	shardEvents string
	// shardVerdicts is the verdicts table a subquery reads, likewise.
	shardVerdicts string
}

// NewAPI validates cfg and returns an API; its connection dials lazily.
func NewAPI(cfg APIConfig) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	conn, err := cfg.ClickHouse.open()
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, conn: conn, db: cfg.ClickHouse.Database, shardEvents: cfg.ClickHouse.Database + ".events",
		shardVerdicts: cfg.ClickHouse.Database + ".verdicts"}
	if cfg.ClickHouse.Cluster != "" {
		a.shardEvents = cfg.ClickHouse.Database + ".events_local"
		a.shardVerdicts = cfg.ClickHouse.Database + ".verdicts_local"
	}
	return a, nil
}

// Ping reports whether ClickHouse answers (any of the configured
// addresses: in cluster mode, any node).
func (a *API) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.conn.Ping(ctx); err != nil {
		return fmt.Errorf("analytics: ClickHouse %v does not answer: %w", a.cfg.ClickHouse.Addr, err)
	}
	return nil
}

// Close closes the API's ClickHouse connections.
func (a *API) Close() error { return a.conn.Close() }

// The API's routes.
const (
	RouteSummary    = "GET /v1/rooms/{room}/analytics/summary"
	RouteTimeseries = "GET /v1/rooms/{room}/analytics/timeseries"
	RouteChat       = "GET /v1/rooms/{room}/analytics/chat"
)

// Register mounts the API's routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle(RouteSummary, a.handle(schemas.CapHost, []string{"from", "to", "epoch"}, a.summary))
	mux.Handle(RouteTimeseries, a.handle(schemas.CapHost, []string{"from", "to", "step", "type", "emoji", "epoch"}, a.timeseries))
	mux.Handle(RouteChat, a.handle(schemas.CapSubscribe, []string{"before", "limit"}, a.chat))
	mux.Handle(RouteModeration, a.handle(schemas.CapModerate, []string{"before", "limit"}, a.moderation))
	mux.Handle(RouteResults, a.handle(schemas.CapHost, []string{"poll", "quiz", "epoch", "format"}, a.results))
}

// RegisterUnavailable mounts the API's routes answering 503 with reason,
// for processes that run without ClickHouse.
func RegisterUnavailable(mux *http.ServeMux, reason string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: reason})
	})
	for _, r := range []string{RouteSummary, RouteTimeseries, RouteChat, RouteModeration, RouteResults} {
		mux.Handle(r, h)
	}
}

type request struct {
	room   string
	q      url.Values
	claims *auth.Claims
}

type handlerFunc func(ctx context.Context, r *request) (any, error)

func (a *API) handle(need schemas.Capability, allowed []string, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		room := hr.PathValue("room")
		if err := schemas.CheckRoom(room); err != nil {
			writeError(w, badParam("room", validationMessage(err)))
			return
		}
		claims, err := a.cfg.Verifier.Verify(auth.BearerToken(hr.Header.Get("Authorization")), "")
		if err != nil {
			a.cfg.Log.Info("analytics request refused", "reason", "token", "err", err)
			writeError(w, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "a valid bearer token is required"})
			return
		}
		if !claims.Can(room, need) {
			a.cfg.Log.Info("analytics request refused", "reason", "capability", "user", claims.User(), "need", need)
			writeError(w, &APIError{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("the token does not grant %s in this room", need)})
			return
		}
		q, err := url.ParseQuery(hr.URL.RawQuery)
		if err != nil {
			writeError(w, badParam("", "the query string is malformed"))
			return
		}
		for k, vs := range q {
			if !contains(allowed, k) {
				writeError(w, badParam(truncateParam(k), "unknown parameter; this endpoint takes "+strings.Join(allowed, ", ")))
				return
			}
			if len(vs) > 1 {
				writeError(w, badParam(k, "given more than once"))
				return
			}
		}
		ctx, cancel := context.WithTimeout(hr.Context(), a.cfg.QueryTimeout)
		defer cancel()
		out, err := fn(ctx, &request{room: room, q: q, claims: claims})
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) {
				a.cfg.Log.Warn("analytics query failed", "path", hr.URL.Path, "err", err)
				ae = &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "ClickHouse did not answer; try again"}
			}
			writeError(w, ae)
			return
		}
		if c, ok := out.(csvBody); ok {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(c)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		b, _ := json.Marshal(out)
		w.Write(append(b, '\n'))
	})
}

func writeError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	b, _ := json.Marshal(map[string]*APIError{"error": e})
	w.Write(append(b, '\n'))
}

func validationMessage(err error) string {
	if ve, ok := schemas.AsValidationError(err); ok {
		return ve.Detail
	}
	return err.Error()
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func truncateParam(k string) string {
	if len(k) > 32 || !utf8.ValidString(k) {
		return "(unknown)"
	}
	return k
}

// Times are accepted as Unix milliseconds or RFC 3339, between 2000 and
// 2100: anything else is not a time a show happened at.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
)

// parseTime reads a time parameter; ok is false when it is absent.
func parseTime(q url.Values, field string) (ms int64, ok bool, err error) {
	v := q.Get(field)
	if v == "" {
		return 0, false, nil
	}
	if len(v) > 40 {
		return 0, false, &APIError{Status: http.StatusBadRequest, Code: CodeBadRange, Field: field, Message: "not a time: use Unix milliseconds or RFC 3339"}
	}
	if n, perr := strconv.ParseInt(v, 10, 64); perr == nil && v[0] != '+' && v[0] != '-' {
		ms = n
	} else if t, terr := time.Parse(time.RFC3339Nano, v); terr == nil {
		ms = t.UnixMilli()
	} else {
		return 0, false, &APIError{Status: http.StatusBadRequest, Code: CodeBadRange, Field: field, Message: "not a time: use Unix milliseconds or RFC 3339"}
	}
	if ms < minTime || ms >= maxTime {
		return 0, false, &APIError{Status: http.StatusBadRequest, Code: CodeBadRange, Field: field, Message: "time out of range: must be between 2000-01-01 and 2100-01-01"}
	}
	return ms, true, nil
}

// parseRange reads from and to; absent bounds are open.
func parseRange(q url.Values) (from, to int64, hasFrom, hasTo bool, err error) {
	if from, hasFrom, err = parseTime(q, "from"); err != nil {
		return
	}
	if to, hasTo, err = parseTime(q, "to"); err != nil {
		return
	}
	if hasFrom && hasTo && to <= from {
		err = &APIError{Status: http.StatusBadRequest, Code: CodeBadRange, Field: "to", Message: "to must be after from"}
	}
	return
}

// roomExists reports whether ClickHouse holds anything of room.
func (a *API) roomExists(ctx context.Context, room string) error {
	for _, table := range []string{TableFrames, TableEvents} {
		var n uint64
		if err := a.conn.QueryRow(ctx, "SELECT count() FROM (SELECT 1 FROM "+a.db+"."+table+" WHERE room = ? LIMIT 1)", room).Scan(&n); err != nil {
			return fmt.Errorf("room lookup: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
	return &APIError{Status: http.StatusNotFound, Code: CodeUnknownRoom, Field: "room", Message: "no analytics for this room"}
}

// epochOf returns the epoch the request names (it must have frames), or
// the room's current epoch: that of its newest frame. A rebuilt epoch's
// first frame carries the room's whole rebuilt state, so the frames of one
// epoch alone fold to what viewers see.
func (a *API) epochOf(ctx context.Context, r *request) (string, error) {
	room := r.room
	if r.q.Has("epoch") {
		epoch := r.q.Get("epoch")
		if err := schemas.CheckID(epoch); err != nil {
			return "", badParam("epoch", "an epoch is 1-64 letters, digits or - _ . :")
		}
		var n uint64
		if err := a.conn.QueryRow(ctx, "SELECT count() FROM (SELECT 1 FROM "+a.db+".frames WHERE room = ? AND epoch = ? LIMIT 1)", room, epoch).Scan(&n); err != nil {
			return "", fmt.Errorf("epoch lookup: %w", err)
		}
		if n == 0 {
			return "", &APIError{Status: http.StatusNotFound, Code: CodeUnknownEpoch, Field: "epoch", Message: "the room has no frames in this epoch"}
		}
		return epoch, nil
	}
	var epoch string
	err := a.conn.QueryRow(ctx, "SELECT argMax(epoch, koffset) FROM "+a.db+".frames WHERE room = ?", room).Scan(&epoch)
	if err != nil {
		return "", fmt.Errorf("epoch lookup: %w", err)
	}
	return epoch, nil
}

// bounds turns optional range ends into SQL bounds.
func bounds(from, to int64, hasFrom, hasTo bool) (uint64, uint64) {
	lo, hi := uint64(0), uint64(math.MaxUint64)
	if hasFrom {
		lo = uint64(from)
	}
	if hasTo {
		hi = uint64(to)
	}
	return lo, hi
}
