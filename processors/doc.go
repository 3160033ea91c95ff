// Package processors turns the events topic into per-room frames and
// snapshots, exactly once: every accepted event is counted once, in its
// room's order, whatever crashes.
//
// # Two layers
//
// Partition is the aggregation core, pure code with no Kafka and no clock
// but the one passed in: events in (Apply, Rebuild), records out (Flush).
// Processor is the Kafka loop around it: a kgo.GroupTransactSession
// reading read_committed with RequireStableFetchOffsets, one transaction
// per tick (Config.Tick, 50 ms by default) that writes the frames of every
// room that changed, their snapshots, the changelog entries and the
// consumed offsets. Apply changes rooms in place; a transaction that does
// not commit (abort, revoke, fenced producer) drops the partitions it
// touched and they are restored from the changelog before their next
// events, so only committed state survives.
//
// # What pushers and other readers can rely on
//
//   - Events, frames, snapshots and changelog are co-partitioned: a room's
//     frames and snapshots are in the same partition number as its events,
//     in seq order (the processor refuses to start otherwise).
//   - Frames of a room carry (epoch, seq): seq is 1, 2, 3 … with no gap and
//     no repeat within an epoch. A new epoch starts at seq 1 and happens
//     only when the room's history is rebuilt (RebuildRequest) or lost (no
//     changelog for a partition the group had consumed).
//   - A delta frame carries only what changed since the previous frame;
//     the fold (schemas.RoomState.Apply) of an epoch's frames from seq 1
//     is the room's state. Frame.TS is the newest ingest ts folded in.
//   - Snapshot rule: a snapshot of the room at (epoch, seq) is written in
//     the same transaction as frame seq whenever seq − last snapshot seq ≥
//     Config.SnapshotEvery (default 1: every transaction that changes the
//     room), and always in the transaction that writes an epoch's first
//     frame. So: take the latest snapshot of a room, then apply the
//     frames with the same epoch and seq > snapshot.seq. At most
//     SnapshotEvery−1 frames lie after the latest snapshot.
//   - An epoch's first frame after a rebuild carries the whole state (as a
//     delta from an empty room), so a subscriber that only reads frames
//     also ends up right.
//   - Chat: a frame lists new lines in order; chat_deleted removes lines
//     (deleted by a moderator, or pushed out of the 100-line history by
//     the frame's new lines, so merged deltas stay exact);
//     a delete always starts a new frame after new lines, so the history
//     does not depend on where frames are cut. One transaction may write
//     several frames of a room (chat bursts past Config.MaxFrameBytes).
//
// # Semantics and validation
//
// Every record is validated with schemas.ParseEvent. What a correct
// producer never writes is dead-lettered (topic Topics.DLQ, same
// transaction, header schemas.HeaderDLQReason = "<reason>: <detail>",
// schemas.HeaderDLQSource = "topic/partition@offset"): invalid records
// (ReasonInvalid), a key that is not the room (ReasonWrongKey) or a room
// in another partition than murmur2(room) picks (ReasonWrongPartition —
// either would give a room two owners), references to a poll, quiz or
// question that never existed, an option outside the poll or quiz,
// poll.open / quiz.ask of an id already used, and events that would pass
// a schemas.Max* room limit. Races a live show produces on its own are
// ignored and counted in ovation_processor_events_ignored_total{reason}:
// a duplicate id inside the dedup window, a vote on a closed poll, a vote
// for the option the user already has, a second upvote or quiz answer by
// a user, an answer after the reveal, a delete of a message not (or no
// longer) in the chat history, closing, revealing or answering twice.
//
// A user has one vote per poll (a new vote moves it: −1/+1 in the delta,
// and counts in totals.votes again); one upvote per question; one answer
// per quiz, scored on reveal into the leaderboard (top
// schemas.LeaderboardSize by score, then by the time of the last scoring
// answer, then by user). Reactions count every event. Presence reports
// are summed per room over pusher nodes that reported within
// Config.PresenceTTL (by the processor's clock); the sum travels as
// delta.viewers. Event ids are remembered for Config.DedupWindow by the
// room's event time, and at most Config.MaxDedupIDs per room.
//
// # Changelog
//
// See changelog.go: per room a core record (public state, counters,
// private quiz answers), one l/ record of private changes per frame,
// checkpoints that replace the l/ records once they outweigh the last
// checkpoint, and d/ records of accepted ids for the dedup window. The
// changelog's "o" record holds the partition's next events offset and is
// checked against the group's committed offset on restore.
//
// # Rebuild into a new epoch
//
// A RebuildRequest is a control record (header HeaderControl) written to
// the events topic in the room's partition (`ovation replay --into
// epoch`). The owning processor acts on it in order: it folds the room's
// events from FromOffset up to the request into a fresh room under the
// request's epoch, inside its transaction, writes the old epoch's pending
// frame first, and the events after the request continue the new epoch.
// Other consumers of the events topic skip the record as an invalid event.
package processors
