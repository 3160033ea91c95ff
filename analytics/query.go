package analytics

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// Summary is the answer of GET /v1/rooms/{room}/analytics/summary.
type Summary struct {
	Room string `json:"room"`
	// Epoch is the processors' current epoch of the room; counts from
	// frames are of this epoch.
	Epoch string `json:"epoch"`
	From  *int64 `json:"from,omitempty"`
	To    *int64 `json:"to,omitempty"`
	// Totals, Reactions, Polls, TopQuestions, PeakViewers and Leaderboard
	// come from the processors' frames: what viewers saw.
	Totals       schemas.Totals           `json:"totals"`
	Reactions    map[string]int64         `json:"reactions"`
	Polls        map[string]*schemas.Poll `json:"polls"`
	TopQuestions []TopQuestion            `json:"top_questions"`
	Leaderboard  []schemas.LeaderEntry    `json:"leaderboard"`
	PeakViewers  int64                    `json:"peak_viewers"`
	// Participants and Events come from the events topic: distinct users
	// who published anything but presence, and distinct valid event ids
	// per type (client retries counted once).
	Participants uint64            `json:"participants"`
	Events       map[string]uint64 `json:"events"`
}

// TopQuestion is one of the most upvoted questions.
type TopQuestion struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	Text     string `json:"text"`
	Upvotes  int64  `json:"upvotes"`
	Answered bool   `json:"answered"`
}

// TopQuestionsLimit is how many questions a summary lists.
const TopQuestionsLimit = 10

func (a *API) summary(ctx context.Context, r *request) (any, error) {
	from, to, hasFrom, hasTo, err := parseRange(r.q)
	if err != nil {
		return nil, err
	}
	if hasFrom && hasTo && time.Duration(to-from)*time.Millisecond > a.cfg.MaxRange {
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeRangeTooBig, Field: "to", Message: fmt.Sprintf("the range may span at most %v", a.cfg.MaxRange)}
	}
	// from alone runs to now, and is held to the same checks.
	if hasFrom && !hasTo {
		now := time.Now().UnixMilli()
		if from >= now {
			return nil, &APIError{Status: http.StatusBadRequest, Code: CodeBadRange, Field: "from", Message: "from is in the future"}
		}
		if time.Duration(now-from)*time.Millisecond > a.cfg.MaxRange {
			return nil, &APIError{Status: http.StatusBadRequest, Code: CodeRangeTooBig, Field: "from", Message: fmt.Sprintf("the range from from to now may span at most %v", a.cfg.MaxRange)}
		}
	}
	if err := a.roomExists(ctx, r.room); err != nil {
		return nil, err
	}
	epoch, err := a.epochOf(ctx, r)
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(from, to, hasFrom, hasTo)
	s := &Summary{Room: r.room, Epoch: epoch, Reactions: map[string]int64{}, Polls: map[string]*schemas.Poll{},
		TopQuestions: []TopQuestion{}, Leaderboard: []schemas.LeaderEntry{}, Events: map[string]uint64{}}
	if hasFrom {
		s.From = &from
	}
	if hasTo {
		s.To = &to
	}
	db := a.db
	args := []any{r.room, epoch, lo, hi}
	const where = " WHERE room = ? AND epoch = ? AND ts_ms >= ? AND ts_ms < ?"

	// Totals and peak viewers.
	t := &s.Totals
	if err := a.conn.QueryRow(ctx, "SELECT sum(chat), sum(reactions), sum(votes), sum(questions), sum(upvotes), sum(answers), toInt64(maxIf(viewers, has_viewers = 1)) FROM "+db+".frames FINAL"+where, args...).
		Scan(&t.Chat, &t.Reactions, &t.Votes, &t.Questions, &t.Upvotes, &t.Answers, &s.PeakViewers); err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	// Reactions per emoji.
	if err := a.scanPairs(ctx, "SELECT e, sum(n) FROM "+db+".frames FINAL ARRAY JOIN r_emoji AS e, r_n AS n"+where+" GROUP BY e", args, func(k string, n int64) {
		s.Reactions[k] = n
	}); err != nil {
		return nil, fmt.Errorf("reactions: %w", err)
	}
	// Titles, flags and the leaderboard: fold the few frames that change
	// more than counters, in order.
	meta := schemas.NewRoomState()
	rows, err := a.conn.Query(ctx, "SELECT delta FROM "+db+".frames FINAL WHERE room = ? AND epoch = ? AND meta = 1 ORDER BY seq", r.room, epoch)
	if err != nil {
		return nil, fmt.Errorf("meta frames: %w", err)
	}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, fmt.Errorf("meta frames: %w", err)
		}
		var d schemas.Delta
		if err := json.Unmarshal([]byte(raw), &d); err == nil {
			meta.Apply(&d)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meta frames: %w", err)
	}
	s.Leaderboard = meta.Leaderboard
	// Poll results: titles from the fold, votes summed over the range.
	for id, p := range meta.Polls {
		s.Polls[id] = &schemas.Poll{Question: p.Question, Options: p.Options, Votes: make([]int64, len(p.Options)), Closed: p.Closed}
	}
	rows, err = a.conn.Query(ctx, "SELECT p, toUInt16(o), sum(n) FROM "+db+".frames FINAL ARRAY JOIN p_poll AS p, p_option AS o, p_n AS n"+where+" GROUP BY p, o", args...)
	if err != nil {
		return nil, fmt.Errorf("polls: %w", err)
	}
	for rows.Next() {
		var (
			id string
			o  uint16
			n  int64
		)
		if err := rows.Scan(&id, &o, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("polls: %w", err)
		}
		p := s.Polls[id]
		if p == nil {
			p = &schemas.Poll{}
			s.Polls[id] = p
		}
		for len(p.Votes) <= int(o) {
			p.Votes = append(p.Votes, 0)
		}
		p.Votes[o] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("polls: %w", err)
	}
	// Top questions by upvotes in the range.
	if err := a.scanPairs(ctx, "SELECT q, sum(n) AS up FROM "+db+".frames FINAL ARRAY JOIN q_id AS q, q_n AS n"+where+" GROUP BY q ORDER BY up DESC, q LIMIT "+strconv.Itoa(TopQuestionsLimit), args, func(id string, n int64) {
		tq := TopQuestion{ID: id, Upvotes: n}
		if q := meta.Questions[id]; q != nil {
			tq.User, tq.Text, tq.Answered = q.User, q.Text, q.Answered
		}
		s.TopQuestions = append(s.TopQuestions, tq)
	}); err != nil {
		return nil, fmt.Errorf("questions: %w", err)
	}
	// Participants and distinct events per type, from the events table,
	// without the events the processors ignored (a.counted).
	evArgs := []any{r.room, lo, hi, r.room}
	evWhere := " WHERE room = ? AND ts_ms >= ? AND ts_ms < ?" + a.counted()
	if err := a.conn.QueryRow(ctx, "SELECT uniqExactIf(user, type != 'presence') FROM "+db+".events"+evWhere, evArgs...).Scan(&s.Participants); err != nil {
		return nil, fmt.Errorf("participants: %w", err)
	}
	rows, err = a.conn.Query(ctx, "SELECT type, uniqExact(user, id) FROM "+db+".events"+evWhere+" GROUP BY type", evArgs...)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	for rows.Next() {
		var (
			typ string
			n   uint64
		)
		if err := rows.Scan(&typ, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("events: %w", err)
		}
		s.Events[typ] = n
	}
	rows.Close()
	return s, rows.Err()
}

func (a *API) scanPairs(ctx context.Context, q string, args []any, fn func(string, int64)) error {
	rows, err := a.conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k string
			n int64
		)
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		fn(k, n)
	}
	return rows.Err()
}

// Series is the answer of GET /v1/rooms/{room}/analytics/timeseries.
type Series struct {
	Room   string  `json:"room"`
	Epoch  string  `json:"epoch"`
	Type   string  `json:"type"`
	Emoji  string  `json:"emoji,omitempty"`
	Step   string  `json:"step"`
	From   int64   `json:"from"`
	To     int64   `json:"to"`
	Total  int64   `json:"total"`
	Points []Point `json:"points"`
}

// Point is one bucket of a series: its start (Unix ms) and value.
type Point struct {
	T int64 `json:"t"`
	N int64 `json:"n"`
}

// seriesSteps are the accepted steps in milliseconds.
var seriesSteps = map[string]int64{"1s": 1000, "10s": 10_000, "1m": 60_000, "5m": 300_000, "1h": 3_600_000}

// seriesTypes maps a series type to the SQL aggregate over frames. These
// fixed strings are the only identifiers a request can select.
var seriesTypes = map[string]string{
	"chat":      "sum(chat)",
	"reactions": "sum(reactions)",
	"votes":     "sum(votes)",
	"questions": "sum(questions)",
	"upvotes":   "sum(upvotes)",
	"answers":   "sum(answers)",
	"viewers":   "toInt64(maxIf(viewers, has_viewers = 1))",
	// participants is computed from the events table instead.
	"participants": "",
}

func seriesTypeNames() string {
	names := make([]string, 0, len(seriesTypes))
	for k := range seriesTypes {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// checkEmoji accepts exactly what a reaction may hold (schemas.CheckEmoji:
// one emoji of the Unicode emoji table, bounded in bytes and code points),
// the same rule the processors count by, so no SQL or shell metacharacter
// is ever taken as an emoji filter.
func checkEmoji(e string) error {
	if err := schemas.CheckEmoji(e); err != nil {
		return badParam("emoji", "not one emoji a reaction may hold: "+err.Error())
	}
	return nil
}

func (a *API) timeseries(ctx context.Context, r *request) (any, error) {
	typ := r.q.Get("type")
	if typ == "" {
		typ = "reactions"
	}
	agg, ok := seriesTypes[typ]
	if !ok {
		return nil, badParam("type", "unknown type; use one of "+seriesTypeNames())
	}
	stepName := r.q.Get("step")
	if stepName == "" {
		stepName = "1m"
	}
	step, ok := seriesSteps[stepName]
	if !ok {
		return nil, badParam("step", "unknown step; use 1s, 10s, 1m, 5m or 1h")
	}
	emoji := r.q.Get("emoji")
	if r.q.Has("emoji") {
		if typ != "reactions" {
			return nil, badParam("emoji", "emoji filters only type=reactions")
		}
		if err := checkEmoji(emoji); err != nil {
			return nil, err
		}
	}
	from, to, hasFrom, hasTo, err := parseRange(r.q)
	if err != nil {
		return nil, err
	}
	if !hasTo {
		to = time.Now().UnixMilli()
		if hasFrom && to <= from {
			return nil, &APIError{Status: http.StatusBadRequest, Code: CodeBadRange, Field: "from", Message: "from is in the future"}
		}
	}
	if !hasFrom {
		from = to - 60*step
	}
	from -= from % step
	n := (to - from + step - 1) / step
	if n > int64(a.cfg.MaxPoints) {
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeRangeTooBig, Field: "to",
			Message: fmt.Sprintf("%d points of %s; at most %d per request: narrow the range or use a larger step", n, stepName, a.cfg.MaxPoints)}
	}
	if err := a.roomExists(ctx, r.room); err != nil {
		return nil, err
	}
	epoch, err := a.epochOf(ctx, r)
	if err != nil {
		return nil, err
	}
	db := a.db
	var q string
	var args []any
	switch {
	case typ == "participants":
		q = "SELECT intDiv(ts_ms, ?) * ? AS t, toInt64(uniqExact(user)) FROM " + db + ".events WHERE room = ? AND type != 'presence' AND ts_ms >= ? AND ts_ms < ?" +
			a.counted() + " GROUP BY t ORDER BY t"
		args = []any{uint64(step), uint64(step), r.room, uint64(from), uint64(to), r.room}
	case emoji != "":
		q = "SELECT intDiv(ts_ms, ?) * ? AS t, sum(n) FROM " + db + ".frames FINAL ARRAY JOIN r_emoji AS e, r_n AS n WHERE room = ? AND epoch = ? AND ts_ms >= ? AND ts_ms < ? AND e = ? GROUP BY t ORDER BY t"
		args = []any{uint64(step), uint64(step), r.room, epoch, uint64(from), uint64(to), emoji}
	default:
		q = "SELECT intDiv(ts_ms, ?) * ? AS t, " + agg + " FROM " + db + ".frames FINAL WHERE room = ? AND epoch = ? AND ts_ms >= ? AND ts_ms < ? GROUP BY t ORDER BY t"
		args = []any{uint64(step), uint64(step), r.room, epoch, uint64(from), uint64(to)}
	}
	vals := map[int64]int64{}
	rows, err := a.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("series: %w", err)
	}
	for rows.Next() {
		var (
			t uint64
			v int64
		)
		if err := rows.Scan(&t, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("series: %w", err)
		}
		vals[int64(t)] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("series: %w", err)
	}
	s := &Series{Room: r.room, Epoch: epoch, Type: typ, Emoji: emoji, Step: stepName, From: from, To: to, Points: make([]Point, 0, n)}
	// Viewers are reported on change: a bucket without a report still has
	// the last known count.
	var last int64
	if typ == "viewers" {
		if err := a.conn.QueryRow(ctx, "SELECT argMax(viewers, seq) FROM "+db+".frames FINAL WHERE room = ? AND epoch = ? AND has_viewers = 1 AND ts_ms < ?", r.room, epoch, uint64(from)).Scan(&last); err != nil {
			return nil, fmt.Errorf("series: %w", err)
		}
	}
	for t := from; t < to; t += step {
		v, ok := vals[t]
		if typ == "viewers" {
			if ok {
				last = v
			}
			v = last
		}
		s.Points = append(s.Points, Point{T: t, N: v})
		if typ != "viewers" && typ != "participants" {
			s.Total += v
		}
	}
	return s, nil
}

// ChatPage is the answer of GET /v1/rooms/{room}/analytics/chat: messages
// newest first; Next is the cursor for the older page, absent at the end.
type ChatPage struct {
	Room     string             `json:"room"`
	Messages []schemas.ChatLine `json:"messages"`
	Next     string             `json:"next,omitempty"`
}

// Chat page sizes.
const (
	DefaultChatLimit = 50
	MaxChatLimit     = 500
)

// parseBefore reads the chat cursor: "<unix ms>:<message id>" as returned
// in next, or a plain time (Unix ms or RFC 3339).
func parseBefore(v string) (ms int64, id string, err error) {
	if v == "" {
		return maxTime, "", nil
	}
	if head, tail, ok := strings.Cut(v, "~"); ok {
		n, perr := strconv.ParseInt(head, 10, 64)
		if perr != nil || head[0] == '+' || head[0] == '-' || n < minTime || n >= maxTime {
			return 0, "", badParam("before", "bad cursor: use the next value of the previous page")
		}
		if schemas.CheckID(tail) != nil {
			return 0, "", badParam("before", "bad cursor: use the next value of the previous page")
		}
		return n, tail, nil
	}
	q := map[string][]string{"before": {v}}
	ms, _, err = parseTime(q, "before")
	return ms, "", err
}

func (a *API) chat(ctx context.Context, r *request) (any, error) {
	limit := DefaultChatLimit
	if v := r.q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxChatLimit || v[0] == '+' {
			return nil, badParam("limit", fmt.Sprintf("limit is a number from 1 to %d", MaxChatLimit))
		}
		limit = n
	}
	beforeMS, beforeID, err := parseBefore(r.q.Get("before"))
	if err != nil {
		return nil, err
	}
	if err := a.roomExists(ctx, r.room); err != nil {
		return nil, err
	}
	db := a.db
	// A cursor (ms, id) pages strictly below it in (ts_ms, id) order; a
	// plain time pages below the time ("" sorts before every id).
	q := "SELECT id, user, name, text, toInt64(ts_ms) FROM " + db + ".events FINAL" +
		" WHERE room = ? AND type = 'chat.message' AND (ts_ms < ? OR (ts_ms = ? AND id < ?))" +
		" AND id NOT IN (SELECT ref FROM " + a.shardEvents + " WHERE room = ? AND type = 'chat.delete'" +
		" AND (user, id) NOT IN (SELECT user, id FROM " + a.shardVerdicts + " WHERE room = ?))" + // a delete with a verdict was ignored
		a.counted() +
		" AND (user, id) NOT IN (SELECT user, id FROM " + a.shardVerdicts + " WHERE room = ? AND reason = '" + schemas.VerdictHidden + "')" +
		" ORDER BY ts_ms DESC, id DESC LIMIT ?"
	rows, err := a.conn.Query(ctx, q, r.room, uint64(beforeMS), uint64(beforeMS), beforeID, r.room, r.room, r.room, r.room, uint64(limit+1))
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	defer rows.Close()
	page := &ChatPage{Room: r.room, Messages: []schemas.ChatLine{}}
	for rows.Next() {
		var l schemas.ChatLine
		if err := rows.Scan(&l.ID, &l.User, &l.Name, &l.Text, &l.TS); err != nil {
			return nil, fmt.Errorf("chat: %w", err)
		}
		page.Messages = append(page.Messages, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	if len(page.Messages) > limit {
		page.Messages = page.Messages[:limit]
		last := page.Messages[limit-1]
		page.Next = strconv.FormatInt(last.TS, 10) + "~" + last.ID
	}
	if err := a.maskPage(ctx, r.room, page.Messages); err != nil {
		return nil, err
	}
	return page, nil
}

// counted is the clause that leaves out of an events query the events the
// processors ignored, and lines held for review and never approved (the
// verdicts table; docs/analytics.md, "One rule for what counts"). It
// takes one bound value: the room.
func (a *API) counted() string {
	return " AND (user, id) NOT IN (SELECT user, id FROM " + a.shardVerdicts + " WHERE room = ? GROUP BY user, id" +
		" HAVING countIf(reason = '" + schemas.VerdictApproved + "') = 0" +
		" AND countIf(reason NOT IN ('" + schemas.VerdictMasked + "', '" + schemas.VerdictHidden + "', '" + schemas.VerdictNoEffect + "')) > 0)"
}

// maskPage shows each line a masking word filter changed as the room
// showed it (its "masked" verdict), not as the user wrote it.
func (a *API) maskPage(ctx context.Context, room string, lines []schemas.ChatLine) error {
	if len(lines) == 0 {
		return nil
	}
	ids := make([]string, len(lines))
	for i := range lines {
		ids[i] = lines[i].ID
	}
	rows, err := a.conn.Query(ctx, "SELECT user, id, any(text) FROM "+a.db+".verdicts WHERE room = ? AND reason = '"+schemas.VerdictMasked+"' AND has(?, id) GROUP BY user, id", room, ids)
	if err != nil {
		return fmt.Errorf("chat: masked lines: %w", err)
	}
	defer rows.Close()
	masked := map[[2]string]string{}
	for rows.Next() {
		var user, id, text string
		if err := rows.Scan(&user, &id, &text); err != nil {
			return fmt.Errorf("chat: masked lines: %w", err)
		}
		masked[[2]string{user, id}] = text
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("chat: masked lines: %w", err)
	}
	for i := range lines {
		if t, ok := masked[[2]string{lines[i].User, lines[i].ID}]; ok {
			lines[i].Text = t
		}
	}
	return nil
}
