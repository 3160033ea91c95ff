package analytics

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// RouteResults exports one poll's or quiz question's results (issue 16):
// GET /v1/rooms/{room}/analytics/results?poll=ID (or quiz=ID)
// [&epoch=E][&format=json|csv]. The results are the fold of the
// processors' frames of the epoch, what viewers saw: the poll's public
// state (every kind: votes, voters, Borda scores and rank distribution,
// rating counts and mean, the latest text answers, the cloud's top words)
// or the question with its answer count and the room's leaderboard.
const RouteResults = "GET /v1/rooms/{room}/analytics/results"

// CodeUnknownItem: the epoch has no poll or quiz question of that id.
const CodeUnknownItem = "unknown_item"

// Results is the JSON answer of RouteResults.
type Results struct {
	Room  string      `json:"room"`
	Epoch string      `json:"epoch"`
	Poll  *PollResult `json:"poll,omitempty"`
	Quiz  *QuizResult `json:"quiz,omitempty"`
}

// PollResult is a poll's state with its id, and the mean of a rating poll.
type PollResult struct {
	ID   string   `json:"id"`
	Mean *float64 `json:"mean,omitempty"`
	schemas.Poll
}

// QuizResult is a quiz question's state with its id and the room's
// leaderboard after it.
type QuizResult struct {
	ID string `json:"id"`
	schemas.Quiz
	Leaderboard []schemas.LeaderEntry `json:"leaderboard"`
}

// csvBody is an answer handle writes as text/csv.
type csvBody []byte

func (a *API) results(ctx context.Context, r *request) (any, error) {
	poll, quiz := r.q.Get("poll"), r.q.Get("quiz")
	if (poll == "") == (quiz == "") {
		return nil, badParam("poll", "give exactly one of poll and quiz")
	}
	field, id := "poll", poll
	if quiz != "" {
		field, id = "quiz", quiz
	}
	if err := schemas.CheckID(id); err != nil {
		return nil, badParam(field, "an id is 1-64 letters, digits or - _ . :")
	}
	format := r.q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return nil, badParam("format", "json or csv")
	}
	if err := a.roomExists(ctx, r.room); err != nil {
		return nil, err
	}
	epoch, err := a.epochOf(ctx, r)
	if err != nil {
		return nil, err
	}
	db := a.db
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
	out := &Results{Room: r.room, Epoch: epoch}
	if poll != "" {
		p := meta.Polls[poll]
		if p == nil {
			return nil, &APIError{Status: http.StatusNotFound, Code: CodeUnknownItem, Field: "poll", Message: "the epoch has no poll of this id"}
		}
		// Counters of frames that changed nothing else are not in the
		// meta rows: the votes are the sums over every frame.
		votes := make([]int64, len(p.Votes))
		rows, err := a.conn.Query(ctx, "SELECT toUInt16(o), sum(n) FROM "+db+".frames FINAL ARRAY JOIN p_poll AS p, p_option AS o, p_n AS n WHERE room = ? AND epoch = ? AND p = ? GROUP BY o", r.room, epoch, poll)
		if err != nil {
			return nil, fmt.Errorf("poll votes: %w", err)
		}
		for rows.Next() {
			var (
				o uint16
				n int64
			)
			if err := rows.Scan(&o, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("poll votes: %w", err)
			}
			for len(votes) <= int(o) {
				votes = append(votes, 0)
			}
			votes[o] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("poll votes: %w", err)
		}
		p.Votes = votes
		out.Poll = &PollResult{ID: poll, Poll: *p}
		if m, ok := schemas.PollMean(p); ok {
			out.Poll.Mean = &m
		}
	} else {
		z := meta.Quizzes[quiz]
		if z == nil {
			return nil, &APIError{Status: http.StatusNotFound, Code: CodeUnknownItem, Field: "quiz", Message: "the epoch has no quiz question of this id"}
		}
		var n int64
		if err := a.conn.QueryRow(ctx, "SELECT sum(n) FROM "+db+".frames FINAL ARRAY JOIN z_id AS z, z_n AS n WHERE room = ? AND epoch = ? AND z = ?", r.room, epoch, quiz).Scan(&n); err != nil {
			return nil, fmt.Errorf("quiz answers: %w", err)
		}
		z.Answers = n
		out.Quiz = &QuizResult{ID: quiz, Quiz: *z, Leaderboard: meta.Leaderboard}
	}
	if format == "csv" {
		return out.csv(), nil
	}
	return out, nil
}

// csv writes the results as a table: per option (votes; Borda points and
// the count at each rank for ranking polls), per rating value, per word,
// per text answer, or the quiz's options and its leaderboard.
func (res *Results) csv() csvBody {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	if p := res.Poll; p != nil {
		switch p.Kind {
		case schemas.PollRating:
			lo, _, _ := schemas.ScaleRange(p.Scale)
			w.Write([]string{"rating", "count"})
			for j, n := range p.Votes {
				w.Write([]string{strconv.Itoa(lo + j), i64(n)})
			}
		case schemas.PollCloud:
			w.Write([]string{"word", "count"})
			for _, wc := range p.Words {
				w.Write([]string{wc.Word, i64(wc.Count)})
			}
		case schemas.PollOpenText:
			w.Write([]string{"user", "answer", "ts"})
			for _, t := range p.Texts {
				w.Write([]string{t.User, t.Text, i64(t.TS)})
			}
		case schemas.PollRanking:
			head := []string{"option", "borda"}
			for k := range p.Options {
				head = append(head, "rank_"+strconv.Itoa(k+1))
			}
			w.Write(head)
			for i, o := range p.Options {
				row := []string{o, i64(at(p.Votes, i))}
				for k := range p.Options {
					var n int64
					if i < len(p.Ranks) {
						n = at(p.Ranks[i], k)
					}
					row = append(row, i64(n))
				}
				w.Write(row)
			}
		default:
			w.Write([]string{"option", "votes"})
			for i, o := range p.Options {
				w.Write([]string{o, i64(at(p.Votes, i))})
			}
		}
	} else if z := res.Quiz; z != nil {
		w.Write([]string{"rank", "user", "score"})
		for i, e := range z.Leaderboard {
			w.Write([]string{strconv.Itoa(i + 1), e.User, i64(e.Score)})
		}
	}
	w.Flush()
	return b.Bytes()
}

func at(s []int64, i int) int64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}
