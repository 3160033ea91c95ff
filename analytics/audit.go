package analytics

import (
	"context"
	"fmt"
	"strconv"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// RouteModeration is the moderation audit trail of a room.
const RouteModeration = "GET /v1/rooms/{room}/analytics/moderation"

// auditTypes are the moderation events the audit trail lists.
var auditTypes = []schemas.Type{
	schemas.ModBan, schemas.ModTimeout, schemas.ModUnban, schemas.RoomControls, schemas.ModFilters,
	schemas.ModApprove, schemas.ModReject, schemas.ChatPin, schemas.ChatUnpin,
	schemas.ChatDelete, schemas.QARemove, schemas.ReactionRemove, schemas.RoomClose,
}

// auditTypeList is auditTypes as an SQL list: type names are constants of
// [a-z.] only, so they are written into the query, never a value.
var auditTypeList = func() string {
	s := ""
	for i, t := range auditTypes {
		if i > 0 {
			s += ","
		}
		s += "'" + string(t) + "'"
	}
	return s
}()

// AuditEntry is one moderation action: who did what, when, to whom.
type AuditEntry struct {
	ID   string `json:"id"`
	TS   int64  `json:"ts"` // ms
	By   string `json:"by"`
	Type string `json:"type"`
	// Target is the sanctioned user (mod.ban, mod.timeout, mod.unban),
	// the held item approved or rejected, the message pinned, or the
	// message, question or emoji removed.
	Target string `json:"target,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Data is the event's data as written, e.g. a timeout's seconds or
	// the controls set.
	Data json.RawMessage `json:"data"`
}

// AuditPage is a page of the audit trail, newest first; Next is the
// cursor of the following page (the before parameter), if there is one.
type AuditPage struct {
	Room    string       `json:"room"`
	Actions []AuditEntry `json:"actions"`
	Next    string       `json:"next,omitempty"`
}

// moderation answers RouteModeration: every moderation event of the room's
// log in ClickHouse (each (room, user, id) once), newest first, paged like
// chat history. It lists what moderators did, as the log has it; what each
// action changed is in the frames (a second ban of a banned user, say,
// changed nothing: the processors count it as already_done).
func (a *API) moderation(ctx context.Context, r *request) (any, error) {
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
	q := "SELECT id, user, type, ref, emoji, text, data, toInt64(ts_ms) FROM " + a.db + ".events FINAL" +
		" WHERE room = ? AND type IN (" + auditTypeList + ") AND (ts_ms < ? OR (ts_ms = ? AND id < ?))" +
		" ORDER BY ts_ms DESC, id DESC LIMIT ?"
	rows, err := a.conn.Query(ctx, q, r.room, uint64(beforeMS), uint64(beforeMS), beforeID, uint64(limit+1))
	if err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	defer rows.Close()
	page := &AuditPage{Room: r.room, Actions: []AuditEntry{}}
	for rows.Next() {
		var e AuditEntry
		var ref, emoji, text, data string
		if err := rows.Scan(&e.ID, &e.By, &e.Type, &ref, &emoji, &text, &data, &e.TS); err != nil {
			return nil, fmt.Errorf("moderation: %w", err)
		}
		if data == "" {
			data = "{}"
		}
		e.Target, e.Data = ref, json.RawMessage(data)
		if emoji != "" {
			e.Target = emoji
		}
		if e.Target == "" {
			e.Target = auditTarget(e.Type, data)
		}
		if e.Type == string(schemas.ModBan) || e.Type == string(schemas.ModTimeout) {
			e.Reason = text
		}
		page.Actions = append(page.Actions, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	if len(page.Actions) > limit {
		page.Actions = page.Actions[:limit]
		last := page.Actions[limit-1]
		page.Next = strconv.FormatInt(last.TS, 10) + "~" + last.ID
	}
	return page, nil
}

// auditTarget reads the target of an approval, a rejection or a pin from
// its data: rows the sink wrote before it filled their ref.
func auditTarget(typ, data string) string {
	var d struct {
		ID        string `json:"id"`
		MessageID string `json:"message_id"`
	}
	switch schemas.Type(typ) {
	case schemas.ModApprove, schemas.ModReject:
		if json.Unmarshal([]byte(data), &d) == nil {
			return d.ID
		}
	case schemas.ChatPin:
		if json.Unmarshal([]byte(data), &d) == nil {
			return d.MessageID
		}
	}
	return ""
}
