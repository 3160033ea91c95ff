package schemas

import "fmt"

// Timed polls and quiz questions (issue 16). A host sets seconds on
// poll.open or quiz.ask; the deadline is the event's ts + seconds, in
// event time, so every replay decides the same:
//
//   - a vote or answer whose ts is after the deadline is refused (the
//     processors ignore it with reason time_up);
//   - when the processor's clock passes the deadline it writes the close
//     itself, in the transaction of that tick, to ovation.events: a
//     poll.close or quiz.reveal by TimerUser with id TimerID(...) and ts
//     equal to the deadline. The close is then an event in the room's log
//     like a host's, folded at its position, so a replay or rebuild
//     closes at the same place. A host may still close earlier; the timer
//     event then changes nothing (already_done).

// MaxTimerSeconds is the longest timer a host may set (one day).
const MaxTimerSeconds = 86400

// TimerUser is the user of the close events the processors write.
const TimerUser = "system:timer"

// TimerID is the event id of the close a timer writes for a poll or quiz
// id: one per poll, so a close written twice (a retried transaction) is a
// duplicate.
func TimerID(id string) string { return "timer:" + id }

func checkSeconds(f *fieldPath, s int) error {
	if s < 0 || s > MaxTimerSeconds {
		return &ValidationError{Field: f.name("seconds"), Rule: RuleRange, Detail: fmt.Sprintf("seconds %d is outside 0..%d (0 means no timer)", s, MaxTimerSeconds)}
	}
	return nil
}

// QuizPoints is what a correct answer to a question worth points scores.
// Untimed (closesAt 0): points. Timed: points decaying linearly with the
// answer's time after the ask, to half at the deadline (Kahoot's rule),
// in integers so every replay and every language gets the same:
// points - points*elapsed/(2*(closesAt-askTS)), elapsed in 0..duration.
func QuizPoints(points int, askTS, closesAt, answerTS int64) int64 {
	if closesAt == 0 || closesAt <= askTS {
		return int64(points)
	}
	d := closesAt - askTS
	e := min(max(answerTS-askTS, 0), d)
	return int64(points) - int64(points)*e/(2*d)
}
