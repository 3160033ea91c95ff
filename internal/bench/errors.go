package bench

import "errors"

var (
	// ErrInvalidConfig wraps every Config.Validate failure.
	ErrInvalidConfig = errors.New("bench: invalid config")
	// ErrNotWired means the pipeline under test does not serve an endpoint
	// the bench needs (ingest's POST /v1/rooms/{room}/events or the
	// pushers' GET /v1/stream): the role is not built into it yet.
	ErrNotWired = errors.New("bench: the pipeline does not serve this endpoint yet")
	// ErrViewers means some viewers could not connect or subscribe.
	ErrViewers = errors.New("bench: viewers failed")
	// ErrNoFrames means events were accepted but no frame of the run's
	// rooms reached the frames topic: the processors are not running.
	ErrNoFrames = errors.New("bench: no frames were produced for accepted events")
)
