package schemas

import (
	"fmt"

	"github.com/segmentio/encoding/json"
)

// frameCase is one entry of frames.json: frames of one room in seq order
// and the RoomState a client holds after folding them into an empty state
// with RoomState.Apply. The expected states are written by hand.
type frameCase struct {
	Name   string    `json:"name"`
	Frames []Frame   `json:"frames"`
	State  RoomState `json:"state"`
}

func i64(v int64) *int64 { return &v }
func intp(v int) *int    { return &v }

func frameCases() []frameCase {
	const t0 = int64(1767225600000)
	frame := func(seq uint64, d Delta) Frame {
		return Frame{Room: "room-1", Epoch: "e-2026-01-01", Seq: seq, TS: t0 + int64(seq)*100, Delta: d}
	}
	line := func(n int) ChatLine {
		return ChatLine{ID: fmt.Sprintf("c%d", n), User: "user-1", Text: fmt.Sprintf("line %d", n), TS: t0 + int64(n)}
	}
	var hundred, kept []ChatLine
	for n := 1; n <= ChatHistory; n++ {
		hundred = append(hundred, line(n))
	}
	for n := 6; n <= ChatHistory+5; n++ {
		kept = append(kept, line(n))
	}
	five := []ChatLine{line(101), line(102), line(103), line(104), line(105)}
	texts := func(from, to int) []PollText {
		var out []PollText
		for n := from; n <= to; n++ {
			out = append(out, PollText{User: fmt.Sprintf("u%d", n), Text: fmt.Sprintf("word %d", n), TS: t0 + int64(n)})
		}
		return out
	}

	return []frameCase{
		{
			Name: "every kind of change",
			Frames: []Frame{
				frame(1, Delta{
					Reactions: map[string]int64{"👍": 3, "🎉": 1},
					Chat: []ChatLine{
						{ID: "m1", User: "user-1", Text: "hi", TS: t0 + 1},
						{ID: "m2", User: "user-2", Name: "Zoë", Text: "hello " + family, TS: t0 + 2},
					},
					Viewers: i64(5),
					Totals:  &Totals{Chat: 2, Reactions: 4},
				}),
				frame(2, Delta{
					Reactions:   map[string]int64{"👍": 2},
					ChatDeleted: []string{"m1"},
					Polls:       map[string]*PollDelta{"poll-1": {Question: "Best talk?", Options: []string{"Keynote", "Panel"}, Votes: []int64{2, 1}}},
					Questions:   map[string]*QuestionDelta{"q1": {User: "user-3", Text: "How does it scale?", TS: t0 + 3, Upvotes: 1}},
					Totals:      &Totals{Reactions: 2, Votes: 3, Questions: 1, Upvotes: 1},
				}),
				frame(3, Delta{
					Polls:     map[string]*PollDelta{"poll-1": {Votes: []int64{-1, 1}, Closed: true}},
					Questions: map[string]*QuestionDelta{"q1": {Upvotes: 2, Answered: true}},
					Quizzes:   map[string]*QuizDelta{"quiz-1": {Question: "2+2?", Options: []string{"3", "4"}, Points: 10, Answers: 2}},
					Viewers:   i64(7),
					Totals:    &Totals{Votes: 1, Upvotes: 2, Answers: 2},
				}),
				frame(4, Delta{
					Chat:        []ChatLine{{ID: "m3", User: "user-1", Text: "gg", TS: t0 + 4}},
					Quizzes:     map[string]*QuizDelta{"quiz-1": {Answers: 1, Revealed: true, Correct: intp(1)}},
					Leaderboard: []LeaderEntry{{User: "user-2", Score: 10, LastTS: t0 + 5}, {User: "user-1", Score: 10, LastTS: t0 + 6}},
					Totals:      &Totals{Chat: 1, Answers: 1},
				}),
			},
			State: RoomState{
				Reactions: map[string]int64{"👍": 5, "🎉": 1},
				Chat: []ChatLine{
					{ID: "m2", User: "user-2", Name: "Zoë", Text: "hello " + family, TS: t0 + 2},
					{ID: "m3", User: "user-1", Text: "gg", TS: t0 + 4},
				},
				Polls:       map[string]*Poll{"poll-1": {Question: "Best talk?", Options: []string{"Keynote", "Panel"}, Votes: []int64{1, 2}, Closed: true}},
				Questions:   map[string]*Question{"q1": {User: "user-3", Text: "How does it scale?", TS: t0 + 3, Upvotes: 3, Answered: true}},
				Quizzes:     map[string]*Quiz{"quiz-1": {Question: "2+2?", Options: []string{"3", "4"}, Points: 10, Answers: 3, Revealed: true, Correct: intp(1)}},
				Leaderboard: []LeaderEntry{{User: "user-2", Score: 10, LastTS: t0 + 5}, {User: "user-1", Score: 10, LastTS: t0 + 6}},
				Viewers:     7,
				Totals:      Totals{Chat: 3, Reactions: 6, Votes: 4, Questions: 1, Upvotes: 3, Answers: 3},
			},
		},
		{
			Name: "chat keeps the last 100 lines",
			Frames: []Frame{
				frame(1, Delta{Chat: hundred, Totals: &Totals{Chat: ChatHistory}}),
				frame(2, Delta{Chat: five, Totals: &Totals{Chat: 5}}),
			},
			State: RoomState{
				Reactions: map[string]int64{}, Chat: kept, Polls: map[string]*Poll{}, Questions: map[string]*Question{},
				Quizzes: map[string]*Quiz{}, Leaderboard: []LeaderEntry{}, Totals: Totals{Chat: ChatHistory + 5},
			},
		},
		{
			Name: "viewers and leaderboard replace, counters add",
			Frames: []Frame{
				frame(1, Delta{Viewers: i64(10), Leaderboard: []LeaderEntry{{User: "a", Score: 1, LastTS: t0}}, Reactions: map[string]int64{"❤️": 1}}),
				frame(2, Delta{Viewers: i64(0), Leaderboard: []LeaderEntry{{User: "b", Score: 2, LastTS: t0 + 1}, {User: "a", Score: 1, LastTS: t0}}}),
				frame(3, Delta{Reactions: map[string]int64{"❤️": 2}}),
			},
			State: RoomState{
				Reactions: map[string]int64{"❤️": 3}, Chat: []ChatLine{}, Polls: map[string]*Poll{}, Questions: map[string]*Question{},
				Quizzes: map[string]*Quiz{}, Leaderboard: []LeaderEntry{{User: "b", Score: 2, LastTS: t0 + 1}, {User: "a", Score: 1, LastTS: t0}},
			},
		},
		{
			Name: "removals drop whole entries before the same delta adds; closed latches",
			Frames: []Frame{
				frame(1, Delta{
					Reactions: map[string]int64{"👍": 4, "🎉": 2, "🔥": 1},
					Questions: map[string]*QuestionDelta{
						"q1": {User: "user-1", Text: "first?", TS: t0 + 1, Upvotes: 2},
						"q2": {User: "user-2", Text: "second?", TS: t0 + 2},
					},
					Totals: &Totals{Reactions: 7, Questions: 2, Upvotes: 2},
				}),
				frame(2, Delta{ReactionsRemoved: []string{"🎉", "💯"}, QuestionsRemoved: []string{"q2"}}),
				frame(3, Delta{
					ReactionsRemoved: []string{"👍"}, Reactions: map[string]int64{"👍": 1},
					QuestionsRemoved: []string{"q1"}, Questions: map[string]*QuestionDelta{"q1": {User: "user-3", Text: "asked again", TS: t0 + 3}},
					Totals: &Totals{Reactions: 1, Questions: 1},
				}),
				frame(4, Delta{Closed: true}),
			},
			State: RoomState{
				Reactions: map[string]int64{"👍": 1, "🔥": 1}, Chat: []ChatLine{}, Polls: map[string]*Poll{},
				Questions: map[string]*Question{"q1": {User: "user-3", Text: "asked again", TS: t0 + 3}},
				Quizzes:   map[string]*Quiz{}, Leaderboard: []LeaderEntry{},
				Totals: Totals{Reactions: 8, Questions: 3, Upvotes: 2},
				Closed: true,
			},
		},
		{
			Name: "moderation: sanctions set, lifted and set again; controls replace; a hidden user's lines deleted",
			Frames: []Frame{
				frame(1, Delta{
					Chat:   []ChatLine{{ID: "m1", User: "troll", Text: "spam", TS: t0}, {ID: "m2", User: "ann", Text: "hi", TS: t0 + 1}},
					Totals: &Totals{Chat: 2},
				}),
				frame(2, Delta{Mod: &ModDelta{
					Controls:  &Controls{SlowMode: 30, EmoteOnly: true},
					Sanctions: map[string]Sanction{"troll": {Kind: SanctionBan, By: "mod-1", TS: t0 + 2, Reason: "spam"}, "bob": {Kind: SanctionTimeout, Until: t0 + 600_000, By: "mod-1", TS: t0 + 2}},
				}, ChatDeleted: []string{"m1"}}),
				frame(3, Delta{Mod: &ModDelta{Lifted: []string{"bob", "troll"}, Sanctions: map[string]Sanction{"troll": {Kind: SanctionTimeout, Until: t0 + 60_000, By: "mod-2", TS: t0 + 3}}}}),
				frame(4, Delta{Mod: &ModDelta{Controls: &Controls{ReactionsOff: true}}, Pinned: &ChatLine{ID: "m1", User: "troll", Text: "spam", TS: t0}}),
				frame(5, Delta{Unpinned: true, Pinned: &ChatLine{ID: "m2", User: "ann", Text: "hi", TS: t0 + 1}}),
			},
			State: RoomState{
				Mod: &Moderation{
					Controls:  Controls{ReactionsOff: true},
					Sanctions: map[string]Sanction{"troll": {Kind: SanctionTimeout, Until: t0 + 60_000, By: "mod-2", TS: t0 + 3}},
				},
				Reactions: map[string]int64{}, Chat: []ChatLine{{ID: "m2", User: "ann", Text: "hi", TS: t0 + 1}}, Polls: map[string]*Poll{},
				Questions: map[string]*Question{}, Quizzes: map[string]*Quiz{}, Leaderboard: []LeaderEntry{},
				Totals: Totals{Chat: 2},
				Pinned: &ChatLine{ID: "m2", User: "ann", Text: "hi", TS: t0 + 1},
			},
		},
		{
			Name: "moderator view: held items added, approved or rejected (removed), a key removed and added again in one delta",
			Frames: []Frame{
				frame(1, Delta{Held: map[string]*HeldItem{
					"h1": {Kind: HeldChat, User: "ann", ID: "h1", Name: "Ann", Text: "first!", TS: t0},
					"q1": {Kind: HeldQuestion, User: "bob", ID: "q1", Text: "why?", TS: t0 + 1},
				}}),
				frame(2, Delta{HeldRemoved: []string{"h1"}, Held: map[string]*HeldItem{
					"h2": {Kind: HeldChat, User: "cat", ID: "h2", Text: "a spoiler", TS: t0 + 2, Filtered: true},
				}}),
				frame(3, Delta{HeldRemoved: []string{"q1"}, Held: map[string]*HeldItem{
					"q1": {Kind: HeldQuestion, User: "dan", ID: "q1", Text: "dan's own q1", TS: t0 + 3},
				}}),
			},
			State: RoomState{
				Reactions: map[string]int64{}, Chat: []ChatLine{}, Polls: map[string]*Poll{},
				Questions: map[string]*Question{}, Quizzes: map[string]*Quiz{}, Leaderboard: []LeaderEntry{},
				Held: map[string]*HeldItem{
					"h2": {Kind: HeldChat, User: "cat", ID: "h2", Text: "a spoiler", TS: t0 + 2, Filtered: true},
					"q1": {Kind: HeldQuestion, User: "dan", ID: "q1", Text: "dan's own q1", TS: t0 + 3},
				},
			},
		},
		{
			Name: "poll kinds: multi, ranking, rating, text (window of the latest answers), cloud (top replaced); a timed poll and quiz",
			Frames: []Frame{
				frame(1, Delta{
					Polls: map[string]*PollDelta{
						"m": {Question: "Which talks?", Options: []string{"A", "B", "C"}, Votes: []int64{1, 1, 0}, PollKindState: PollKindState{Kind: PollMulti, MaxPicks: 2, Voters: 1}},
						"r": {Question: "Order them", Options: []string{"A", "B", "C"}, Votes: []int64{1, 2, 0}, PollKindState: PollKindState{Kind: PollRanking, Voters: 1, Ranks: [][]int64{{0, 1}, {1}}}},
						"n": {Question: "Recommend us?", Votes: []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, PollKindState: PollKindState{Kind: PollRating, Scale: ScaleNPS, Voters: 2, ClosesAt: t0 + 30_000}},
						"t": {Question: "One word?", PollKindState: PollKindState{Kind: PollOpenText, Voters: 8, Texts: texts(1, 8)}},
						"c": {Question: "Cloud?", PollKindState: PollKindState{Kind: PollCloud, StopWords: []string{"en"}, Voters: 2, Words: []WordCount{{"great", 2}, {"talk", 1}}}},
					},
					Quizzes: map[string]*QuizDelta{"z": {Question: "Fast?", Options: []string{"a", "b"}, Points: 1000, AskTS: t0, ClosesAt: t0 + 20_000}},
					Totals:  &Totals{Votes: 12},
				}),
				frame(2, Delta{
					Polls: map[string]*PollDelta{
						"m": {Votes: []int64{-1, 0, 1}},
						"r": {Votes: []int64{2, 0, 1}, PollKindState: PollKindState{Voters: 1, Ranks: [][]int64{{1}, {0, 0, 1}, {0, 1}}}},
						"n": {Votes: []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0}, PollKindState: PollKindState{Voters: -1}},
						"t": {PollKindState: PollKindState{Voters: 4, Texts: texts(9, 12)}, Closed: true},
						"c": {PollKindState: PollKindState{Voters: 1, Words: []WordCount{{"great", 3}, {"demo", 2}, {"talk", 1}}}},
					},
					Quizzes: map[string]*QuizDelta{"z": {Answers: 2, Revealed: true, Correct: intp(1)}},
					Totals:  &Totals{Votes: 4, Answers: 2},
				}),
			},
			State: RoomState{
				Reactions: map[string]int64{}, Chat: []ChatLine{}, Questions: map[string]*Question{}, Leaderboard: []LeaderEntry{},
				Quizzes: map[string]*Quiz{"z": {Question: "Fast?", Options: []string{"a", "b"}, Points: 1000, Answers: 2, Revealed: true, Correct: intp(1), AskTS: t0, ClosesAt: t0 + 20_000}},
				Polls: map[string]*Poll{
					"m": {Question: "Which talks?", Options: []string{"A", "B", "C"}, Votes: []int64{0, 1, 1}, PollKindState: PollKindState{Kind: PollMulti, MaxPicks: 2, Voters: 1}},
					"r": {Question: "Order them", Options: []string{"A", "B", "C"}, Votes: []int64{3, 2, 1}, PollKindState: PollKindState{Kind: PollRanking, Voters: 2, Ranks: [][]int64{{1, 1}, {1, 0, 1}, {0, 1}}}},
					"n": {Question: "Recommend us?", Options: []string{}, Votes: []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, PollKindState: PollKindState{Kind: PollRating, Scale: ScaleNPS, Voters: 1, ClosesAt: t0 + 30_000}},
					"t": {Question: "One word?", Options: []string{}, Votes: []int64{}, Closed: true, PollKindState: PollKindState{Kind: PollOpenText, Voters: 12, Texts: texts(3, 12)}},
					"c": {Question: "Cloud?", Options: []string{}, Votes: []int64{}, PollKindState: PollKindState{Kind: PollCloud, StopWords: []string{"en"}, Voters: 3, Words: []WordCount{{"great", 3}, {"demo", 2}, {"talk", 1}}}},
				},
				Totals: Totals{Votes: 16, Answers: 2},
			},
		},
		{
			Name: "custom types: fold, title and keys with the first frame; counts add; register values replace by key",
			Frames: []Frame{
				frame(1, Delta{Custom: map[string]*CustomDelta{
					"custom.hype": {Fold: FoldCounter, Title: "Hype meter", Keys: []string{"fire", "clap", "wow"}, KeyField: "level", AmountField: "n", Counts: map[string]int64{"fire": 3, "wow": 1}},
					"custom.song": {Fold: FoldRegister, Title: "Now playing", Values: map[string]json.RawMessage{"next": json.RawMessage(`"Jolene"`), "later": json.RawMessage(`{"title":"Africa","by":"Toto"}`)}},
				}}),
				frame(2, Delta{Custom: map[string]*CustomDelta{
					"custom.hype": {Counts: map[string]int64{"fire": 2, "clap": 7}},
					"custom.song": {Values: map[string]json.RawMessage{"next": json.RawMessage(`"Africa \u003clive\u003e"`)}},
					"custom.team": {Fold: FoldDistinct, Title: "Which team?", KeyField: "team", Counts: map[string]int64{"red": 2}},
				}}),
				frame(3, Delta{Custom: map[string]*CustomDelta{"custom.team": {Counts: map[string]int64{"red": 1, "blue": 1}}}}),
			},
			State: RoomState{
				Reactions: map[string]int64{}, Chat: []ChatLine{}, Polls: map[string]*Poll{}, Questions: map[string]*Question{},
				Quizzes: map[string]*Quiz{}, Leaderboard: []LeaderEntry{},
				Custom: map[string]*Custom{
					"custom.hype": {Fold: FoldCounter, Title: "Hype meter", Keys: []string{"fire", "clap", "wow"}, KeyField: "level", AmountField: "n", Counts: map[string]int64{"fire": 5, "clap": 7, "wow": 1}},
					"custom.song": {Fold: FoldRegister, Title: "Now playing", Values: map[string]json.RawMessage{"next": json.RawMessage(`"Africa \u003clive\u003e"`), "later": json.RawMessage(`{"title":"Africa","by":"Toto"}`)}},
					"custom.team": {Fold: FoldDistinct, Title: "Which team?", KeyField: "team", Counts: map[string]int64{"red": 3, "blue": 1}},
				},
			},
		},
	}
}
