package processors

import (
	"errors"
	"fmt"
)

// Reason says why an event was dead-lettered or ignored. Reasons are stable
// strings: they are metric label values and the prefix of the dead-letter
// header, so operators can alert and grep on them.
type Reason string

// Reasons an event is dead-lettered: the record is not something a correct
// producer writes (it fails the schema, names a poll, quiz or question that
// never existed, or would push the room past a limit). The producer has a
// bug; an operator should look.
const (
	ReasonInvalid        Reason = "invalid"         // fails schemas.ParseEvent
	ReasonWrongKey       Reason = "wrong_key"       // record key is not the event's room
	ReasonWrongPartition Reason = "wrong_partition" // room hashed to another partition
	ReasonUnknownPoll    Reason = "unknown_poll"
	ReasonUnknownQuiz    Reason = "unknown_quiz"
	ReasonUnknownQ       Reason = "unknown_question"
	ReasonBadOption      Reason = "bad_option" // option index outside the poll or quiz
	ReasonExists         Reason = "exists"     // poll.open / quiz.ask of an id already used
	ReasonLimit          Reason = "limit"      // would pass a schemas.Max* room limit
	ReasonUserLimit      Reason = "user_limit" // would pass the user's share of a room limit (Config.MaxEmojisPerUser, MaxOpenQuestionsPerUser)
	ReasonTooLarge       Reason = "too_large"  // would make a record larger than the topics allow
	ReasonBadControl     Reason = "bad_control"
)

// deadLetterReasons lists every dead-letter reason, so their counters
// exist (at zero) before the first one: rate() alerts then fire on it.
var deadLetterReasons = []Reason{ReasonInvalid, ReasonWrongKey, ReasonWrongPartition, ReasonUnknownPoll,
	ReasonUnknownQuiz, ReasonUnknownQ, ReasonBadOption, ReasonExists, ReasonLimit, ReasonUserLimit,
	ReasonTooLarge, ReasonBadControl}

// ignoreReasons lists every ignore reason, for the same reason.
var ignoreReasons = []Reason{ReasonDuplicate, ReasonClosed, ReasonSameVote, ReasonUpvoted, ReasonAnswered,
	ReasonRevealed, ReasonUnknownChat, ReasonAlreadyClosed, ReasonNoRoom, ReasonRoomClosed,
	ReasonBanned, ReasonTimedOut, ReasonSlowMode, ReasonChatOff, ReasonReactionsOff, ReasonQuestionsOff, ReasonEmoteOnly, ReasonFiltered, ReasonHeldFull, ReasonUnknownHeld}

// Reasons an event is ignored (counted, not dead-lettered): races that a
// live show produces on its own, such as a vote that arrives just after
// the poll closed or two moderators deleting the same message.
const (
	ReasonDuplicate     Reason = "duplicate" // event id seen inside the dedup window
	ReasonClosed        Reason = "closed"    // vote on a closed poll
	ReasonSameVote      Reason = "same_vote" // vote for the option the user already has
	ReasonUpvoted       Reason = "already_upvoted"
	ReasonAnswered      Reason = "already_answered" // second quiz answer by a user
	ReasonRevealed      Reason = "revealed"         // quiz answer after reveal
	ReasonUnknownChat   Reason = "unknown_message"  // chat.delete of a message not in the history
	ReasonAlreadyClosed Reason = "already_done"     // close/reveal/answered twice
	ReasonNoRoom        Reason = "no_room"          // presence for a room no event created: presence never creates one
	ReasonRoomClosed    Reason = "room_closed"      // any event after room.close
	// Moderation (docs/moderation.md): the event's user is sanctioned at
	// the event's position, or a room control refuses it by its ts.
	ReasonBanned       Reason = "banned"        // the user is banned in the room
	ReasonTimedOut     Reason = "timed_out"     // the user's timeout runs past the event's ts
	ReasonSlowMode     Reason = "slow_mode"     // a chat line sooner than slow_mode seconds after the user's last
	ReasonChatOff      Reason = "chat_off"      // chat.message while chat is off
	ReasonReactionsOff Reason = "reactions_off" // reaction while reactions are off
	ReasonQuestionsOff Reason = "questions_off" // qa.ask while questions are off
	ReasonEmoteOnly    Reason = "emote_only"    // a chat line that is not only emoji in an emote-only room
	ReasonFiltered     Reason = "filtered"      // a chat line or question matching the room's refusing word filter
)

// Outcome is what applying one event did.
type Outcome int

// The outcomes of Partition.Apply.
const (
	Applied Outcome = iota
	Ignored
	DeadLettered
	// NeedsLoad: the event's room is evicted; load it and apply again.
	NeedsLoad
)

// Sentinel errors of the Kafka loop.
var (
	// ErrNotCopartitioned means the events, frames, snapshots and changelog
	// topics have different partition counts, so a room's state could not
	// live next to its events.
	ErrNotCopartitioned = errors.New("processors: events, frames, snapshots and changelog topics must have equal partition counts")
	// ErrRestoreBehind means the changelog never caught up with the group's
	// committed offset while restoring a partition.
	ErrRestoreBehind = errors.New("processors: changelog is behind the committed offset")
	// ErrProduce means a record of the open transaction failed to produce,
	// so the transaction was aborted.
	ErrProduce = errors.New("processors: produce failed")
	// ErrRecordTooLarge means a record of the open transaction was larger
	// than the topics allow, so the transaction was aborted and the
	// events of its room in it are dead-lettered on the next try.
	ErrRecordTooLarge = errors.New("processors: record too large")
)

// RestoreError says which partition could not be restored and why.
type RestoreError struct {
	Partition int32
	Err       error
}

// Error says which partition failed to restore.
func (e *RestoreError) Error() string {
	return fmt.Sprintf("restore partition %d: %v", e.Partition, e.Err)
}

// Unwrap returns the cause.
func (e *RestoreError) Unwrap() error { return e.Err }
