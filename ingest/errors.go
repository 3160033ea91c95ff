package ingest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ovation-live/ovation/schemas"
)

// Error codes ingest puts on the wire in schemas.PublishError.Code. They are
// stable strings: clients, the SDK and docs/ingest.md switch on them.
const (
	CodeInvalidJSON     = "invalid_json"      // 400: the body is not JSON, or not an object or array
	CodeEmptyBatch      = "empty_batch"       // 400: the body is an empty array
	CodeInvalidEvent    = "invalid_event"     // 400: an event breaks the v1 schema; field names where
	CodeInvalidRoom     = "invalid_room"      // 400: the room in the path is not a valid room id
	CodeEventTooLarge   = "event_too_large"   // 413: one event is over the event size limit
	CodeBatchTooLarge   = "batch_too_large"   // 413: more events in one request than allowed
	CodeRequestTooLarge = "request_too_large" // 413: the request body is over the request size limit
	// CodeUnsupportedContentType (415): with auth off (dev), a body whose
	// Content-Type is not JSON; browsers send those cross-site unasked.
	CodeUnsupportedContentType = "unsupported_content_type"
	CodeUnauthorized           = "unauthorized"      // 401: no token, or a forged or malformed one
	CodeTokenExpired           = "token_expired"     // 401: the token's exp has passed
	CodeForbidden              = "forbidden"         // 403: the token lacks the capability in this room
	CodeTooManyRooms           = "too_many_rooms"    // 403: the token names more rooms than allowed
	CodeRateLimited            = "rate_limited"      // 429: over the events/s limit of the user or client address
	CodeBackpressure           = "backpressure"      // 503: the Kafka producer buffer is full; retry later
	CodeKafkaUnavailable       = "kafka_unavailable" // 503: Kafka did not acknowledge in time; retry with the same id
	CodeInternal               = "internal"          // 500: a bug; the log says more
)

// Codes lists every code in a stable order: metrics pre-register a series
// per code and docs/ingest.md documents each.
var Codes = []string{
	CodeInvalidJSON, CodeEmptyBatch, CodeInvalidEvent, CodeInvalidRoom,
	CodeEventTooLarge, CodeBatchTooLarge, CodeRequestTooLarge, CodeUnsupportedContentType,
	CodeUnauthorized, CodeTokenExpired, CodeForbidden, CodeTooManyRooms,
	CodeRateLimited, CodeBackpressure, CodeKafkaUnavailable, CodeMirrorTimeout, CodeInternal,
	CodeBanned, CodeSlowMode, CodeChatOff, CodeReactionsOff, CodeQuestionsOff, CodeEmoteOnly,
}

// ErrInvalidConfig is wrapped by Config.Validate errors.
var ErrInvalidConfig = errors.New("ingest: invalid config")

func perr(status int, code, field, format string, args ...any) *schemas.PublishError {
	return &schemas.PublishError{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func errInvalidJSON(format string, args ...any) *schemas.PublishError {
	return perr(http.StatusBadRequest, CodeInvalidJSON, "", format, args...)
}

// errInvalidEvent turns a schemas validation error into the wire error.
// The message carries the rule and detail, never the field's content.
func errInvalidEvent(err error) *schemas.PublishError {
	if ve, ok := schemas.AsValidationError(err); ok {
		return perr(http.StatusBadRequest, CodeInvalidEvent, ve.Field, "%s: %s", ve.Rule, ve.Detail)
	}
	return perr(http.StatusBadRequest, CodeInvalidEvent, "", "%v", err)
}

func errEventTooLarge(n, limit int) *schemas.PublishError {
	return perr(http.StatusRequestEntityTooLarge, CodeEventTooLarge, "", "event is %d bytes, the limit is %d", n, limit)
}

func errRateLimited(what string, retryAfter int) *schemas.PublishError {
	e := perr(http.StatusTooManyRequests, CodeRateLimited, "", "over the events per second limit per %s; retry after %d s", what, retryAfter)
	e.RetryAfter = retryAfter
	return e
}

func errBackpressure() *schemas.PublishError {
	e := perr(http.StatusServiceUnavailable, CodeBackpressure, "", "the Kafka producer buffer is full; retry with the same id")
	e.RetryAfter = 1
	return e
}

func errKafkaUnavailable() *schemas.PublishError {
	e := perr(http.StatusServiceUnavailable, CodeKafkaUnavailable, "", "Kafka did not acknowledge the event; retry with the same id")
	e.RetryAfter = 1
	return e
}

// AsPublishError returns err's *schemas.PublishError, if it has one.
func AsPublishError(err error) (*schemas.PublishError, bool) {
	var pe *schemas.PublishError
	ok := errors.As(err, &pe)
	return pe, ok
}
