package pushers

// Close codes the server sends (docs/protocol.md §7).
const (
	CloseUnauthorized    = 4001 // missing, malformed or forged token
	CloseTokenExpired    = 4002 // the token's exp passed
	CloseForbiddenOrigin = 4003 // Origin not allowed
	CloseRateLimited     = 4008 // inbound message rate exceeded
	CloseTooSlow         = 4009 // queue past the hard bound: resume
	CloseTooManyRooms    = 4010 // subscribe over MaxRooms
	CloseTooManyConns    = 4011 // the user's per-node connection limit
	CloseReconnect       = 4012 // drain: reconnect elsewhere and resume
	CloseBadMessage      = 4400 // binary or non-object message
	CloseInvalidUTF8     = 1007 // a text message that is not UTF-8 (RFC 6455)
	closeMessageTooBig   = 1009 // sent by gorilla when SetReadLimit trips
)

// Error codes of the error message (docs/protocol.md §4.8).
const (
	CodeBadRequest         = "bad_request"
	CodeUnknownOp          = "unknown_op"
	CodeForbidden          = "forbidden"
	CodeUnavailable        = "unavailable"
	CodePublishUnavailable = "publish_unavailable"
	CodePublishFailed      = "publish_failed"
	// Refusals of the refresh op; the current token stays in force.
	CodeInvalidToken   = "invalid_token"    // malformed, forged or unverifiable
	CodeTokenExpired   = "token_expired"    // the new token is past exp (+ leeway)
	CodeTokenWrongUser = "token_wrong_user" // the new token's sub is not the connection's user
	CodeTokenNotNewer  = "token_not_newer"  // the new token does not expire later than the current one
)
