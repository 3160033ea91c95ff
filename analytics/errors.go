package analytics

import (
	"errors"
	"net/http"
)

// Sentinel errors of the analytics package.
var (
	// ErrConfig wraps every configuration error found by a Validate method.
	ErrConfig = errors.New("analytics: bad configuration")
	// ErrNoPartitions is returned when a topic to consume has no partitions
	// (it does not exist yet).
	ErrNoPartitions = errors.New("analytics: topic has no partitions")
	// ErrPositionMismatch is returned when a replay position file was written
	// for a different plan (topic or range) than the one asked for.
	ErrPositionMismatch = errors.New("analytics: replay position file belongs to another replay")
)

// APIError is the error answer of the query API: HTTP status, a stable
// machine-readable code, a message for humans and the query parameter at
// fault, if any. It is written as {"error": {...}}.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error returns "code: field: message".
func (e *APIError) Error() string {
	if e.Field != "" {
		return e.Code + ": " + e.Field + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}

// API error codes.
const (
	CodeBadParam     = "bad_parameter"
	CodeBadRange     = "bad_range"
	CodeRangeTooBig  = "range_too_large"
	CodeUnknownRoom  = "unknown_room"
	CodeUnknownEpoch = "unknown_epoch"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeUnavailable  = "analytics_unavailable"
	CodeInternal     = "internal"
)

func badParam(field, msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadParam, Field: field, Message: msg}
}
