package schemas

import (
	"errors"
	"fmt"
)

// Deployment-wide moderation (docs/moderation.md, "Deployment-wide bans
// and filters"). A configured deployment room (--deployment-room, default
// DefaultDeploymentRoom) is a normal room whose mod.ban, mod.timeout,
// mod.unban and mod.filters apply to every room. The processor that owns
// it, in the transaction that folds such an event, writes a copy of the
// event into every partition of the events topic: a control record with
// header ovation-control: ControlDeployment, keyed by the deployment
// room, whose value is the event as folded. Each partition's processor
// applies the copy to its partition-level table at the copy's offset;
// every room of the partition judges its later events by it.

// DefaultDeploymentRoom is the deployment room's default id.
const DefaultDeploymentRoom = "ovation.deployment"

// ControlDeployment is the ovation-control header value of a deployment
// copy on the events topic.
const ControlDeployment = "deployment"

// MaxDeploymentSanctions bounds a partition's deployment-wide sanctions.
// The deployment room itself holds at most MaxSanctionsPerRoom, so the
// bound is reached only when the deployment room was changed and the old
// one's sanctions stay; at the bound a copy that would add a user is not
// applied (the partition logs it), ended timeouts having been dropped
// first. The table is also measured against the record limit as it
// grows: with Ovation's topics (TopicMaxMessageBytes) 2,000 sanctions of
// the longest, most escaped fields fit.
const MaxDeploymentSanctions = 2000

// ErrNotDeploymentCopy is returned by ParseDeploymentCopy for a record
// that is not a deployment copy.
var ErrNotDeploymentCopy = errors.New("not a deployment copy")

// ParseDeploymentCopy decodes and validates a deployment copy's value:
// an event of the deployment room (room must match when not empty) of
// type mod.ban, mod.timeout, mod.unban or mod.filters.
func ParseDeploymentCopy(b []byte, room string) (Event, error) {
	ev, err := ParseEvent(b)
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrNotDeploymentCopy, err)
	}
	switch ev.Type {
	case ModBan, ModTimeout, ModUnban, ModFilters:
	default:
		return ev, fmt.Errorf("%w: type %s is not deployment-wide", ErrNotDeploymentCopy, ev.Type)
	}
	if room != "" && ev.Room != room {
		return ev, fmt.Errorf("%w: room %q is not the deployment room %q", ErrNotDeploymentCopy, ev.Room, room)
	}
	return ev, nil
}

// IsDeploymentWide reports whether an event of type t in the deployment
// room is copied into every partition.
func IsDeploymentWide(t Type) bool {
	return t == ModBan || t == ModTimeout || t == ModUnban || t == ModFilters
}
