package schemas

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// Verdicts are the processors' judgements of a room's events that the
// events topic does not carry, so that analytics counts by the same rule
// as viewers see (docs/analytics.md, "One rule for what counts"): events
// the moderation fold ignored (a sanctioned user's, refused by a room
// control or a word filter, after room.close) and the text of lines a
// masking filter changed. The processors write them, in the transaction
// that folded the events, as a control record (header ovation-control,
// action ControlVerdicts) on the room's events partition, after the events
// they judge; every other reader of the events topic skips control records.
type Verdicts struct {
	Room  string    `json:"room"`
	Items []Verdict `json:"items"`
}

// Verdict is one event's judgement: Reason is one of VerdictReasons, or
// VerdictMasked with the text the room shows (the event's own text is
// what the user wrote).
type Verdict struct {
	User   string `json:"user"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Text   string `json:"text,omitempty"`
}

// ControlVerdicts is the ovation-control header value of a Verdicts record.
const ControlVerdicts = "verdicts"

// VerdictMasked marks a line (chat.message, qa.ask) a masking word filter
// changed; Verdict.Text holds it as shown.
const VerdictMasked = "masked"

// VerdictHeld marks a line held for review: it counts nowhere unless a
// later VerdictApproved (the moderator approved it) names it too.
const (
	VerdictHeld     = "held"
	VerdictApproved = "approved"
)

// VerdictHidden marks a chat line a sanction with hide took out of the
// room after it was shown: it still counts, but chat history leaves it
// out, as it does a chat.delete.
const VerdictHidden = "hidden"

// VerdictNoEffect marks a chat.delete the processors ignored (its line
// was not shown then): it counts as tried, but chat history keeps the
// line.
const VerdictNoEffect = "no_effect"

// VerdictReasons are the processors' ignore reasons that take an event out
// of every count (processors.Reason values): moderation's, and any event
// after room.close. Other ignored events (a vote on a closed poll, a
// duplicate id) stay in the events table as what the audience tried.
var VerdictReasons = []string{"banned", "timed_out", "slow_mode", "chat_off", "reactions_off",
	"questions_off", "emote_only", "filtered", "room_closed"}

// MaxVerdictsBytes bounds one verdicts record; the processors split a
// room's verdicts over several records above it.
const MaxVerdictsBytes = 256 << 10

// ParseVerdicts decodes and checks a verdicts record's value.
func ParseVerdicts(b []byte) (Verdicts, error) {
	var v Verdicts
	if len(b) > MaxVerdictsBytes {
		return v, fmt.Errorf("verdicts: %d bytes, limit %d", len(b), MaxVerdictsBytes)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("verdicts: %w", err)
	}
	if err := CheckRoom(v.Room); err != nil {
		return v, fmt.Errorf("verdicts: %w", err)
	}
	if len(v.Items) == 0 {
		return v, errors.New("verdicts: no items")
	}
	for i := range v.Items {
		it := &v.Items[i]
		if err := CheckUser(it.User); err != nil {
			return v, fmt.Errorf("verdicts: item %d: %w", i, err)
		}
		if err := CheckID(it.ID); err != nil {
			return v, fmt.Errorf("verdicts: item %d: %w", i, err)
		}
		switch {
		case it.Reason == VerdictMasked:
			if it.Text == "" || !utf8.ValidString(it.Text) || utf8.RuneCountInString(it.Text) > max(MaxChatLen, MaxQuestionLen) {
				return v, fmt.Errorf("verdicts: item %d: masked text empty, not UTF-8 or longer than %d runes", i, max(MaxChatLen, MaxQuestionLen))
			}
		case isVerdictReason(it.Reason) || it.Reason == VerdictHeld || it.Reason == VerdictApproved || it.Reason == VerdictHidden || it.Reason == VerdictNoEffect:
			if it.Text != "" {
				return v, fmt.Errorf("verdicts: item %d: text on a %q verdict", i, it.Reason)
			}
		default:
			return v, fmt.Errorf("verdicts: item %d: unknown reason %q", i, it.Reason)
		}
	}
	return v, nil
}

func isVerdictReason(r string) bool {
	for _, x := range VerdictReasons {
		if x == r {
			return true
		}
	}
	return false
}

// IsVerdictReason reports whether an ignore reason takes an event out of
// every count.
func IsVerdictReason(r string) bool { return isVerdictReason(r) }
