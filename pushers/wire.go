package pushers

import (
	"bytes"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/schemas"
)

// clientMsg is any client message (docs/protocol.md §3). Unknown fields
// are ignored so newer clients work with older servers.
type clientMsg struct {
	Op    string          `json:"op"`
	ID    string          `json:"id"`
	Room  string          `json:"room"`
	Epoch *string         `json:"epoch"`
	Seq   *uint64         `json:"seq"`
	Event json.RawMessage `json:"event"`
	Token string          `json:"token"`
}

// maxReqIDLen bounds the client-chosen request id.
const maxReqIDLen = 64

// clientShape bounds the structure of a client message before it is
// decoded: an event's shape one level deeper, plus the message's own
// fields (docs/protocol.md §9). Deep or wide JSON costs a decoder far more
// than its bytes; this check costs one pass and no allocation.
var clientShape = schemas.EventShape.Around(1, 16)

// parseClientMsg decodes b. A message that is not a JSON object returns
// errNotObject, one whose structure is malformed or over clientShape a
// *schemas.ValidationError naming the problem (both close 4400); a type
// error names the field.
func parseClientMsg(b []byte) (clientMsg, *wireError, error) {
	var m clientMsg
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		return m, nil, errNotObject
	}
	if err := schemas.CheckShape(t, clientShape); err != nil {
		return m, nil, err
	}
	if err := json.Unmarshal(t, &m); err != nil {
		field := ""
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			field = te.Field
		}
		we := &wireError{Type: "error", Code: CodeBadRequest, Message: "a field has the wrong JSON type", Field: field}
		if field == "id" {
			we.Message = "id must be a string of 1-64 characters"
		}
		return m, we, nil
	}
	if len(m.ID) > maxReqIDLen {
		return m, &wireError{Type: "error", Code: CodeBadRequest, Message: fmt.Sprintf("id is %d characters, the limit is %d", len(m.ID), maxReqIDLen), Field: "id"}, nil
	}
	return m, nil, nil
}

type errString string

func (e errString) Error() string { return string(e) }

const errNotObject = errString("message is not a JSON object")

type wireWelcome struct {
	Type            string `json:"type"`
	Node            string `json:"node"`
	User            string `json:"user"`
	TS              int64  `json:"ts"`
	PingInterval    int    `json:"ping_interval"`
	MaxRooms        int    `json:"max_rooms"`
	MaxMessageBytes int64  `json:"max_message_bytes"`
}

type wireSubscribed struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	Room      string `json:"room"`
	Epoch     string `json:"epoch"`
	Seq       uint64 `json:"seq"`
	Recovered bool   `json:"recovered"`
}

// wireUnsubscribed answers an unsubscribe, or (with Code, without ID)
// says the server ended a subscription.
type wireUnsubscribed struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Room    string `json:"room"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Until (ms) ends the timeout that ended the subscription (code banned).
	Until int64 `json:"until,omitempty"`
}

// wireRefreshHint asks the client to refresh its token: Exp is the
// token's exp (Unix s), CloseAt when the server closes with 4002 (Unix ms).
type wireRefreshHint struct {
	Type    string `json:"type"`
	Exp     int64  `json:"exp"`
	CloseAt int64  `json:"close_at"`
}

// wireRefreshed answers a refresh: Exp is the new token's exp (Unix s;
// absent with auth off).
type wireRefreshed struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Exp  int64  `json:"exp,omitempty"`
}

type wireAck struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	EventID string `json:"event_id"`
}

type wirePong struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	TS   int64  `json:"ts"`
}

type wireError struct {
	Type       string `json:"type"`
	ID         string `json:"id,omitempty"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	Room       string `json:"room,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"`
	Until      int64  `json:"until,omitempty"` // ms; a timeout's end (code banned)
}

// wireFrame is the frame message; Delta is exactly schemas.Delta.
type wireFrame struct {
	Type    string         `json:"type"`
	Room    string         `json:"room"`
	Epoch   string         `json:"epoch"`
	Seq     uint64         `json:"seq"`
	FromSeq uint64         `json:"from_seq,omitempty"`
	TS      int64          `json:"ts"`
	Delta   *schemas.Delta `json:"delta"`
}

// wireSnapshot is the snapshot message; State is exactly schemas.RoomState.
type wireSnapshot struct {
	Type  string             `json:"type"`
	Room  string             `json:"room"`
	Epoch string             `json:"epoch"`
	Seq   uint64             `json:"seq"`
	TS    int64              `json:"ts"`
	State *schemas.RoomState `json:"state"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own wire structs are encoded here; they always encode.
		panic(fmt.Sprintf("pushers: encode %T: %v", v, err))
	}
	return b
}
