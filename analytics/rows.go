package analytics

import (
	"math"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// eventColumns and frameColumns are the column lists of every INSERT: 18.16
// over the native protocol needs them named, and naming them keeps old
// sinks working after a migration adds a column.
const (
	eventColumns = "room, id, type, user, ts, ts_ms, ref, option, emoji, text, name, data, ktopic, kpartition, koffset, ver"
	frameColumns = "room, epoch, seq, ts, ts_ms, chat, reactions, votes, questions, upvotes, answers, viewers, has_viewers, " +
		"r_emoji, r_n, p_poll, p_option, p_n, q_id, q_n, z_id, z_n, meta, delta, ktopic, kpartition, koffset"
)

// verdictColumns is the column list of the verdicts INSERT.
const verdictColumns = "room, user, id, reason, text, ktopic, kpartition, koffset"

// verdictRow is one row of the verdicts table: one event's verdict.
type verdictRow struct {
	room, user, id, reason, text string
	src                          source
}

// verdictRowsOf flattens a verdicts record.
func verdictRowsOf(v *schemas.Verdicts, src source) []verdictRow {
	out := make([]verdictRow, 0, len(v.Items))
	for _, it := range v.Items {
		out = append(out, verdictRow{room: v.Room, user: it.User, id: it.ID, reason: it.Reason, text: it.Text, src: src})
	}
	return out
}

func (r *verdictRow) size() int {
	return len(r.room) + len(r.user) + len(r.id) + len(r.reason) + len(r.text) + len(r.src.topic) + 24
}

// verdictColumnsOf returns rows as one slice per column, in
// verdictColumns order.
func verdictColumnsOf(rows []verdictRow) []any {
	n := len(rows)
	room, user, id, reason, text, topic := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	partition, offset := make([]int32, n), make([]int64, n)
	for i := range rows {
		r := &rows[i]
		room[i], user[i], id[i], reason[i], text[i] = r.room, r.user, r.id, r.reason, r.text
		topic[i], partition[i], offset[i] = r.src.topic, r.src.partition, r.src.offset
	}
	return []any{room, user, id, reason, text, topic, partition, offset}
}

// source is where a row came from in Kafka.
type source struct {
	topic     string
	partition int32
	offset    int64
}

// eventRow is one row of the events table.
type eventRow struct {
	room, id, typ, user string
	tsMS                int64
	ref                 string
	option              int16
	emoji, text, name   string
	data                string
	src                 source
}

// newEventRow flattens a validated event into its row. ref names what the
// event points at (poll, question, quiz or chat message), so SQL can join
// without parsing JSON.
func newEventRow(ev *schemas.Event, src source) eventRow {
	r := eventRow{room: ev.Room, id: ev.ID, typ: string(ev.Type), user: ev.User, tsMS: ev.TS, option: -1, data: string(ev.Data), src: src}
	switch b := ev.Body.(type) {
	case *schemas.ChatMessageData:
		r.text, r.name = b.Text, b.Name
	case *schemas.ChatDeleteData:
		r.ref = b.MessageID
	case *schemas.ReactionData:
		r.emoji = b.Emoji
	case *schemas.PollOpenData:
		r.ref, r.text = b.PollID, b.Question
	case *schemas.PollVoteData:
		r.ref, r.option = b.PollID, int16(b.Option)
	case *schemas.PollCloseData:
		r.ref = b.PollID
	case *schemas.QAAskData:
		r.text = b.Text
	case *schemas.QAUpvoteData:
		r.ref = b.QuestionID
	case *schemas.QAAnsweredData:
		r.ref = b.QuestionID
	case *schemas.QuizAskData:
		r.ref, r.text = b.QuizID, b.Question
	case *schemas.QuizAnswerData:
		r.ref, r.option = b.QuizID, int16(b.Option)
	case *schemas.QuizRevealData:
		r.ref = b.QuizID
	case *schemas.PresenceData:
		r.ref = b.Node
	case *schemas.ModBanData:
		r.ref, r.text = b.Target, b.Reason
	case *schemas.ModTimeoutData:
		r.ref, r.text = b.Target, b.Reason
	case *schemas.ModUnbanData:
		r.ref = b.Target
	case *schemas.QARemoveData:
		r.ref = b.QuestionID
	case *schemas.ReactionRemoveData:
		r.emoji = b.Emoji
	case *schemas.ModApproveData:
		r.ref = b.ID
	case *schemas.ModRejectData:
		r.ref = b.ID
	case *schemas.ChatPinData:
		r.ref = b.MessageID
	case *schemas.CustomData:
		// A custom type's key (docs/custom.md); its data column holds the rest.
		r.ref = b.Key
	}
	return r
}

func (r *eventRow) size() int {
	return len(r.room) + len(r.id) + len(r.typ) + len(r.user) + len(r.ref) + len(r.emoji) + len(r.text) + len(r.name) + len(r.data) + len(r.src.topic) + 64
}

func (r *eventRow) values() []any {
	return []any{
		r.room, r.id, r.typ, r.user, msTime(r.tsMS), uint64(max(r.tsMS, 0)), r.ref, r.option, r.emoji, r.text, r.name, r.data,
		r.src.topic, r.src.partition, r.src.offset, uint64(math.MaxInt64 - r.src.offset),
	}
}

// frameRow is one row of the frames table: the frame's counters flattened
// into columns and arrays so that totals, reactions per emoji, poll votes
// and upvotes are plain SQL sums.
type frameRow struct {
	room, epoch string
	seq         uint64
	tsMS        int64
	totals      schemas.Totals
	viewers     int64
	hasViewers  uint8
	rEmoji      []string
	rN          []int64
	pPoll       []string
	pOption     []uint16
	pN          []int64
	qID         []string
	qN          []int64
	zID         []string
	zN          []int64
	// delta holds the frame's delta JSON when it changes anything but
	// counters (a poll, question or quiz opened, closed, answered or
	// revealed, or the leaderboard): the summary folds these few rows with
	// schemas.RoomState.Apply to get titles and flags.
	meta  uint8
	delta string
	src   source
}

// newFrameRow flattens f. Map keys are sorted so that the same frame always
// gives the same row.
func newFrameRow(f *schemas.Frame, src source) frameRow {
	d := &f.Delta
	r := frameRow{room: f.Room, epoch: f.Epoch, seq: f.Seq, tsMS: f.TS, src: src}
	if d.Totals != nil {
		r.totals = *d.Totals
	}
	if d.Viewers != nil {
		r.viewers, r.hasViewers = *d.Viewers, 1
	}
	for _, e := range sortedKeys(d.Reactions) {
		r.rEmoji = append(r.rEmoji, e)
		r.rN = append(r.rN, d.Reactions[e])
	}
	meta := d.Leaderboard != nil
	for _, id := range sortedKeys(d.Polls) {
		p := d.Polls[id]
		// The poll kinds' state (voters, ranks, text answers, a cloud's
		// top) is not in the counter columns: every frame that changes
		// it keeps its delta, so the meta rows fold to it exactly.
		if p.Options != nil || p.Closed || p.Kind != "" || p.Voters != 0 || len(p.Ranks) > 0 || len(p.Texts) > 0 || p.Words != nil {
			meta = true
		}
		for i, n := range p.Votes {
			if n != 0 {
				r.pPoll = append(r.pPoll, id)
				r.pOption = append(r.pOption, uint16(i))
				r.pN = append(r.pN, n)
			}
		}
	}
	for _, id := range sortedKeys(d.Questions) {
		q := d.Questions[id]
		if q.Text != "" || q.Answered {
			meta = true
		}
		r.qID = append(r.qID, id)
		r.qN = append(r.qN, q.Upvotes)
	}
	for _, id := range sortedKeys(d.Quizzes) {
		z := d.Quizzes[id]
		if z.Options != nil || z.Revealed {
			meta = true
		}
		r.zID = append(r.zID, id)
		r.zN = append(r.zN, z.Answers)
	}
	if meta {
		// Chat lines are dropped from the stored delta: history comes from
		// the events table, and a meta row should stay small.
		md := *d
		md.Chat, md.ChatDeleted = nil, nil
		b, err := json.Marshal(&md)
		if err == nil {
			r.meta, r.delta = 1, string(b)
		}
	}
	return r
}

func (r *frameRow) size() int {
	n := len(r.room) + len(r.epoch) + len(r.delta) + len(r.src.topic) + 160
	for _, s := range r.rEmoji {
		n += len(s) + 8
	}
	for _, s := range r.pPoll {
		n += len(s) + 10
	}
	for _, s := range r.qID {
		n += len(s) + 8
	}
	for _, s := range r.zID {
		n += len(s) + 8
	}
	return n
}

func (r *frameRow) values() []any {
	t := r.totals
	return []any{
		r.room, r.epoch, r.seq, msTime(r.tsMS), uint64(max(r.tsMS, 0)),
		t.Chat, t.Reactions, t.Votes, t.Questions, t.Upvotes, t.Answers, r.viewers, r.hasViewers,
		nonNil(r.rEmoji), nonNil(r.rN), nonNil(r.pPoll), nonNil(r.pOption), nonNil(r.pN),
		nonNil(r.qID), nonNil(r.qN), nonNil(r.zID), nonNil(r.zN),
		r.meta, r.delta, r.src.topic, r.src.partition, r.src.offset,
	}
}

// msTime converts a Unix millisecond time to the second-precision value of
// a DateTime column, clamped to what DateTime can hold.
func msTime(ms int64) time.Time {
	s := ms / 1000
	if s < 0 {
		s = 0
	}
	if s > math.MaxUint32 {
		s = math.MaxUint32
	}
	return time.Unix(s, 0).UTC()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// eventColumnsOf returns rows as one slice per column, in eventColumns
// order, with the same values as eventRow.values.
func eventColumnsOf(rows []eventRow) []any {
	n := len(rows)
	var (
		room, id, typ, user = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ts                  = make([]time.Time, n)
		tsMS                = make([]uint64, n)
		ref                 = make([]string, n)
		option              = make([]int16, n)
		emoji, text, name   = make([]string, n), make([]string, n), make([]string, n)
		data, topic         = make([]string, n), make([]string, n)
		partition           = make([]int32, n)
		offset              = make([]int64, n)
		ver                 = make([]uint64, n)
	)
	for i := range rows {
		r := &rows[i]
		room[i], id[i], typ[i], user[i] = r.room, r.id, r.typ, r.user
		ts[i], tsMS[i] = msTime(r.tsMS), uint64(max(r.tsMS, 0))
		ref[i], option[i], emoji[i], text[i], name[i], data[i] = r.ref, r.option, r.emoji, r.text, r.name, r.data
		topic[i], partition[i], offset[i], ver[i] = r.src.topic, r.src.partition, r.src.offset, uint64(math.MaxInt64-r.src.offset)
	}
	return []any{room, id, typ, user, ts, tsMS, ref, option, emoji, text, name, data, topic, partition, offset, ver}
}

// frameColumnsOf returns rows as one slice per column, in frameColumns
// order, with the same values as frameRow.values.
func frameColumnsOf(rows []frameRow) []any {
	n := len(rows)
	strs := func() []string { return make([]string, n) }
	i64s := func() []int64 { return make([]int64, n) }
	arrS := func() [][]string { return make([][]string, n) }
	arrI := func() [][]int64 { return make([][]int64, n) }
	room, epoch := strs(), strs()
	seq := make([]uint64, n)
	ts := make([]time.Time, n)
	tsMS := make([]uint64, n)
	chat, reactions, votes, questions, upvotes, answers, viewers := i64s(), i64s(), i64s(), i64s(), i64s(), i64s(), i64s()
	hasViewers, meta := make([]uint8, n), make([]uint8, n)
	rEmoji, rN, pPoll, pN, qID, qN, zID, zN := arrS(), arrI(), arrS(), arrI(), arrS(), arrI(), arrS(), arrI()
	pOption := make([][]uint16, n)
	delta, topic := strs(), strs()
	partition := make([]int32, n)
	offset := i64s()
	for i := range rows {
		r := &rows[i]
		t := r.totals
		room[i], epoch[i], seq[i], ts[i], tsMS[i] = r.room, r.epoch, r.seq, msTime(r.tsMS), uint64(max(r.tsMS, 0))
		chat[i], reactions[i], votes[i], questions[i], upvotes[i], answers[i] = t.Chat, t.Reactions, t.Votes, t.Questions, t.Upvotes, t.Answers
		viewers[i], hasViewers[i] = r.viewers, r.hasViewers
		rEmoji[i], rN[i], pPoll[i], pOption[i], pN[i] = nonNil(r.rEmoji), nonNil(r.rN), nonNil(r.pPoll), nonNil(r.pOption), nonNil(r.pN)
		qID[i], qN[i], zID[i], zN[i] = nonNil(r.qID), nonNil(r.qN), nonNil(r.zID), nonNil(r.zN)
		meta[i], delta[i], topic[i], partition[i], offset[i] = r.meta, r.delta, r.src.topic, r.src.partition, r.src.offset
	}
	return []any{room, epoch, seq, ts, tsMS, chat, reactions, votes, questions, upvotes, answers, viewers, hasViewers,
		rEmoji, rN, pPoll, pOption, pN, qID, qN, zID, zN, meta, delta, topic, partition, offset}
}
