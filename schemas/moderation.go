package schemas

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/rivo/uniseg"
	"github.com/segmentio/encoding/json"
)

// Moderation event types (docs/moderation.md). They are events in the
// room's own log like every other: the processors fold them at one exact
// position, so a sanction or a control applies identically after any
// crash, replay or rebuild.
const (
	// ModBan bans a user from the room until mod.unban.
	ModBan Type = "mod.ban"
	// ModTimeout bans a user from the room for a number of seconds,
	// counted from the event's ts.
	ModTimeout Type = "mod.timeout"
	// ModUnban lifts a ban or timeout.
	ModUnban Type = "mod.unban"
	// RoomControls sets the room's live controls (slow mode, chat off,
	// reactions off, emote-only, questions off), all at once: a field
	// left out is off.
	RoomControls Type = "room.controls"
	// ChatPin pins a chat line of the room's history above the chat;
	// ChatUnpin takes it down.
	ChatPin   Type = "chat.pin"
	ChatUnpin Type = "chat.unpin"
)

// ChatPinData is the body of chat.pin.
type ChatPinData struct {
	MessageID string `json:"message_id"`
}

// ChatUnpinData is the body of chat.unpin: an empty object.
type ChatUnpinData struct{}

func (d *ChatPinData) validate(f *fieldPath) error { return checkID(f.name("message_id"), d.MessageID) }

func (d *ChatUnpinData) validate(*fieldPath) error { return nil }

// Moderation limits; part of the contract like the other limits.
const (
	MaxReasonLen        = 200       // a sanction's reason, in runes
	MaxTimeoutSeconds   = 7 * 86400 // one week
	MaxSlowModeSeconds  = 3600      // one hour between a user's chat lines
	MaxSanctionsPerRoom = 500       // users under a ban or running timeout in one room
)

// Sanction kinds as they appear in Sanction.Kind.
const (
	SanctionBan     = "ban"
	SanctionTimeout = "timeout"
)

// ModBanData is the body of mod.ban. Hide also removes what the user
// wrote that the room still shows: their chat lines and questions.
type ModBanData struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	Hide   bool   `json:"hide,omitempty"`
}

// ModTimeoutData is the body of mod.timeout: like mod.ban, for Seconds
// from the event's ts.
type ModTimeoutData struct {
	Target  string `json:"target"`
	Seconds int    `json:"seconds"`
	Reason  string `json:"reason,omitempty"`
	Hide    bool   `json:"hide,omitempty"`
}

// ModUnbanData is the body of mod.unban.
type ModUnbanData struct {
	Target string `json:"target"`
}

// Controls are a room's live controls, the body of room.controls and part
// of the public state (Moderation.Controls). The zero value is "all off".
type Controls struct {
	// SlowMode is the least number of seconds between two chat lines of
	// one user (by event ts); 0 is off.
	SlowMode     int  `json:"slow_mode,omitempty"`
	ChatOff      bool `json:"chat_off,omitempty"`
	ReactionsOff bool `json:"reactions_off,omitempty"`
	QuestionsOff bool `json:"questions_off,omitempty"`
	// EmoteOnly lets through only chat lines made of emoji and spaces.
	EmoteOnly bool `json:"emote_only,omitempty"`
	// HoldChat and HoldQuestions put every chat line or question into the
	// room's pending queue for a moderator to approve (hold.go).
	HoldChat      bool `json:"hold_chat,omitempty"`
	HoldQuestions bool `json:"hold_questions,omitempty"`
}

// Moderation is a room's public moderation state: every viewer sees the
// controls (to render them) and who is sanctioned (so a client knows it
// is, and until when).
type Moderation struct {
	Controls  Controls            `json:"controls"`
	Sanctions map[string]Sanction `json:"sanctions,omitempty"` // by user
}

// Sanction is a ban or a timeout of one user in a room.
type Sanction struct {
	Kind   string `json:"kind"`            // SanctionBan or SanctionTimeout
	Until  int64  `json:"until,omitempty"` // ms; a timeout ends there, a ban has none
	By     string `json:"by"`              // the moderator
	TS     int64  `json:"ts"`              // the sanction event's ts
	Reason string `json:"reason,omitempty"`
}

// Active reports whether s still applies at ts (ms).
func (s Sanction) Active(ts int64) bool { return s.Until == 0 || ts < s.Until }

// ModDelta is the change of a room's moderation state. Lifted users lose
// their sanction before Sanctions of the same delta set theirs (as with
// the other removals), and Controls replaces the room's when present.
type ModDelta struct {
	Controls  *Controls           `json:"controls,omitempty"`
	Sanctions map[string]Sanction `json:"sanctions,omitempty"`
	Lifted    []string            `json:"lifted,omitempty"`
}

func (d *ModBanData) validate(f *fieldPath) error {
	if err := checkTarget(f, d.Target); err != nil {
		return err
	}
	return checkText(f.name("reason"), d.Reason, 0, MaxReasonLen, false)
}

func (d *ModTimeoutData) validate(f *fieldPath) error {
	if err := checkTarget(f, d.Target); err != nil {
		return err
	}
	if d.Seconds < 1 || d.Seconds > MaxTimeoutSeconds {
		return &ValidationError{Field: f.name("seconds"), Rule: RuleRange, Detail: fmt.Sprintf("seconds %d is outside 1..%d", d.Seconds, MaxTimeoutSeconds)}
	}
	return checkText(f.name("reason"), d.Reason, 0, MaxReasonLen, false)
}

var numSeconds = []string{"seconds"}

func (*ModTimeoutData) requiredNumbers() []string { return numSeconds }

func (d *ModUnbanData) validate(f *fieldPath) error { return checkTarget(f, d.Target) }

func (d *Controls) validate(f *fieldPath) error {
	if d.SlowMode < 0 || d.SlowMode > MaxSlowModeSeconds {
		return &ValidationError{Field: f.name("slow_mode"), Rule: RuleRange, Detail: fmt.Sprintf("slow_mode %d is outside 0..%d seconds", d.SlowMode, MaxSlowModeSeconds)}
	}
	return nil
}

// checkTarget validates a sanctioned user id: the rules of CheckUser.
func checkTarget(f *fieldPath, user string) error {
	return checkText(f.name("target"), user, 1, MaxUserLen, true)
}

// IsEmoteOnly reports whether text is made only of emoji (RGI, as
// reactions) and white space, with at least one emoji: what an
// emote-only room lets through.
func IsEmoteOnly(text string) bool {
	n := 0
	g := uniseg.NewGraphemes(text)
	for g.Next() {
		s := g.Str()
		if strings.TrimFunc(s, unicode.IsSpace) == "" {
			continue
		}
		if !IsEmoji(s) {
			return false
		}
		n++
	}
	return n > 0
}

// ControlRefusal names the control that refuses an event of type t with
// chat text (chat.message only) in a room with controls c, or "". Slow
// mode needs the user's last line and is not checked here.
func (c *Controls) ControlRefusal(t Type, text string) string {
	switch t {
	case ChatMessage:
		if c.ChatOff {
			return "chat_off"
		}
		if c.EmoteOnly && !IsEmoteOnly(text) {
			return "emote_only"
		}
	case Reaction:
		if c.ReactionsOff {
			return "reactions_off"
		}
	case QAAsk:
		if c.QuestionsOff {
			return "questions_off"
		}
	}
	return ""
}

// applyMod folds d into s.Mod.
func (s *RoomState) applyMod(d *ModDelta) {
	if s.Mod == nil {
		s.Mod = &Moderation{}
	}
	for _, u := range d.Lifted {
		delete(s.Mod.Sanctions, u)
	}
	if len(d.Sanctions) > 0 && s.Mod.Sanctions == nil {
		s.Mod.Sanctions = make(map[string]Sanction, len(d.Sanctions))
	}
	for u, sn := range d.Sanctions {
		s.Mod.Sanctions[u] = sn
	}
	if len(s.Mod.Sanctions) == 0 {
		s.Mod.Sanctions = nil
	}
	if d.Controls != nil {
		s.Mod.Controls = *d.Controls
	}
	if s.Mod.Controls == (Controls{}) && len(s.Mod.Sanctions) == 0 {
		// "Nothing moderated" has one form, whatever deltas led there.
		s.Mod = nil
	}
}

// mergeMod returns one moderation delta equal to a then b, or nil.
func mergeMod(a, b *ModDelta) *ModDelta {
	if a == nil && b == nil {
		return nil
	}
	if a == nil {
		a = &ModDelta{}
	}
	if b == nil {
		b = &ModDelta{}
	}
	m := &ModDelta{Lifted: mergeRemoved(a.Lifted, b.Lifted)}
	if a.Controls != nil {
		c := *a.Controls
		m.Controls = &c
	}
	if b.Controls != nil {
		c := *b.Controls
		m.Controls = &c
	}
	if len(a.Sanctions)+len(b.Sanctions) > 0 {
		m.Sanctions = make(map[string]Sanction, len(a.Sanctions)+len(b.Sanctions))
		for u, sn := range a.Sanctions {
			if !slices.Contains(b.Lifted, u) {
				m.Sanctions[u] = sn
			}
		}
		maps.Copy(m.Sanctions, b.Sanctions)
		if len(m.Sanctions) == 0 {
			m.Sanctions = nil
		}
	}
	return m
}

func (d *ModDelta) isEmpty() bool {
	return d == nil || d.Controls == nil && len(d.Sanctions) == 0 && len(d.Lifted) == 0
}

func (m *Moderation) clone() *Moderation {
	if m == nil {
		return nil
	}
	c := &Moderation{Controls: m.Controls}
	if len(m.Sanctions) > 0 {
		c.Sanctions = maps.Clone(m.Sanctions)
	}
	return c
}

// prefixLen is how far into a frame or snapshot record the mod key is
// looked for: it follows room (at most 64 bytes), epoch, seq and ts, and
// the encoders write it first in the delta and in the state.
const prefixLen = 512

var (
	frameModKey = []byte(`,"delta":{"mod":`)
	stateKey    = []byte(`,"state":`)
	stateModKey = []byte(`,"state":{"mod":`)
)

// SnapshotHeader is a snapshot record's position.
type SnapshotHeader struct {
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	TS    int64  `json:"ts"`
}

// PeekFrameMod decodes a frame record value only if its delta changes the
// moderation state (found by the delta's first key, in the record's first
// bytes: a frame without one costs a short search). ok is false for
// every other frame and for one that does not decode.
func PeekFrameMod(b []byte) (f Frame, ok bool) {
	if !bytes.Contains(b[:min(len(b), prefixLen)], frameModKey) {
		return f, false
	}
	f, err := UnmarshalFrame(b)
	if err != nil || f.Delta.Mod == nil {
		return f, false
	}
	return f, true
}

// PeekSnapshotMod decodes only a snapshot record's header and its state's
// moderation (nil when the room has none): mod is the state's first
// field, so the rest of the state is never read. ok is false when the
// header or the mod object does not decode.
func PeekSnapshotMod(b []byte) (h SnapshotHeader, mod *Moderation, ok bool) {
	i := bytes.Index(b[:min(len(b), prefixLen)], stateKey)
	if i < 0 {
		return h, nil, false
	}
	hb := append(bytes.Clone(b[:i]), '}')
	if err := decodeStrict(hb, &h, ""); err != nil || CheckRoom(h.Room) != nil {
		return h, nil, false
	}
	if !bytes.HasPrefix(b[i:], stateModKey) {
		return h, nil, true
	}
	var m Moderation
	if _, err := json.Parse(b[i+len(stateModKey):], &m, parseFlags); err != nil {
		return h, nil, false
	}
	return h, &m, true
}
