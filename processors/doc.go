// Package processors turns the events topic into per-room frames and
// snapshots, exactly once: every accepted event is counted once, in its
// room's order, whatever crashes.
//
// # Two layers
//
// Partition is the aggregation core, pure code with no Kafka and no clock
// but the one passed in: events in (Apply, Rebuild), records out (Flush).
// Processor is the Kafka loop around it: a kgo.GroupTransactSession
// reading read_committed with RequireStableFetchOffsets. Its fetches of
// the events topic wait at the broker up to Config.FetchWait (10 ms in
// `ovation process` and `ovation dev`) to collect more events, so a trickle of events into quiet
// rooms comes in one fetch per FetchWait rather than one per event. A
// transaction begins when records arrive and ends once they are applied
// (with FetchWait off: once none came for Config.Linger, 2 ms by
// default), or a tick (Config.Tick, 50 ms) after it began: an event into
// an idle partition is committed at once, and under load (a partition
// read has more records readable) a transaction grows to a tick's worth
// of events. It writes the frames of
// every room that changed, their snapshots when due, the changelog
// entries and the consumed offsets. Apply changes rooms in place; a
// transaction that does not commit (abort, revoke, fenced producer) drops
// the partitions it touched and they are restored from the changelog
// before their next events, so only committed state survives.
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
//     Config.SnapshotEvery (default 100 frames), and always in the
//     transaction that writes an epoch's first frame. A snapshot never
//     lags its room's latest frame for longer than Config.SnapshotInterval
//     (default 1 s): a room with frames after its snapshot gets a snapshot
//     at its latest seq that long after the first of them, in a
//     transaction of its own if no event comes. So: take the latest
//     snapshot of a room, then apply the frames with the same epoch and
//     seq > snapshot.seq (pushers do, from their window of recent frames,
//     which must reach back further than SnapshotInterval). At most
//     SnapshotEvery−1 frames, and at most SnapshotInterval of them, lie
//     after the latest snapshot; a room is not evicted while its snapshot
//     lags. After a crash the new owner writes the snapshot of every room
//     whose core record says it lags, at its first transaction: a processor
//     restores the partitions assigned to it at once (once the group's
//     committed offset is known), not only when their next record comes.
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
// Every record is validated with schemas.ParseRecord (schemas.ParseEvent,
// with "id" and "ts" filled in when a trusted producer left them out: the
// id derived from the record's topic/partition@offset, ts from the record
// timestamp) and placed with schemas.Place, the rule every consumer of
// the events topic shares. An event keyed otherwise than by its room, or
// in another partition than murmur2(room) picks (librdkafka's default
// CRC32 partitioner, a user key, no key), is rerouted: copied, keyed by
// its room, into its room's partition with header schemas.HeaderRerouted
// = its source, in the transaction that consumes it, so exactly one copy
// is committed and counted (by the room's owner, when it reads it) and
// copies keep the order of their source partition; the original counts
// nowhere. A copy that is still misplaced (the partition count changed)
// is not rerouted twice but dead-lettered (ReasonWrongKey,
// ReasonWrongPartition). What a correct producer never writes is
// dead-lettered (topic Topics.DLQ, same
// transaction, header schemas.HeaderDLQReason = "<reason>: <detail>",
// schemas.HeaderDLQSource = "topic/partition@offset"): invalid records
// (ReasonInvalid), references to a poll, quiz or
// question that never existed, an option outside the poll or quiz,
// poll.open / quiz.ask of an id already used, events that would pass
// a schemas.Max* room limit (ReasonLimit), a user's share of one
// (ReasonUserLimit: Config.MaxEmojisPerUser new emoji slots,
// Config.MaxOpenQuestionsPerUser open questions) or the record size the
// topics allow (ReasonTooLarge). Races a live show produces on its own are
// ignored and counted in ovation_processor_events_ignored_total{reason}:
// a duplicate (room, user, id) inside the dedup window, a vote on a closed
// poll, a vote for the option the user already has, a second upvote or
// quiz answer by a user, an answer after the reveal, a delete of a message
// not (or no longer) in the chat history, closing, revealing, answering or
// removing twice, presence for a room no event created (ReasonNoRoom), and
// any event but presence after room.close (ReasonRoomClosed).
//
// A user has one vote per poll (a new vote moves it: −1/+1 in the delta,
// and counts in totals.votes again); one upvote per question; one answer
// per quiz, scored on reveal into the leaderboard (top
// schemas.LeaderboardSize by score, then by the time of the last scoring
// answer, then by user). Reactions count every event. Presence reports
// are summed per room over pusher nodes that reported within
// Config.PresenceTTL (by the processor's clock; at most
// Config.MaxPresenceNodes nodes a room); the sum travels as
// delta.viewers.
//
// An event's identity is (room, user, id): the same id from two users is
// two events. Identities are remembered for Config.DedupWindow by the
// room's event time, and at most Config.MaxDedupIDs per room. Chat line
// and question ids must stay unique in a room, so when another user's
// line or question already has the event's id the new one gets a derived
// id ("u-" + 24 hex digits of SHA-256(user, id): the same on every replay).
//
// Moderation: reaction.remove drops an emoji slot with its count
// (delta.reactions_removed; the opener's slot is free again), qa.remove a
// question with its upvotes (delta.questions_removed; the asker's open
// question is free again), room.close closes the room for good
// (delta.closed, state.closed). Removals apply before a delta's additions
// (schemas.Delta), so the processor drops what the same pending delta had
// added to a removed entry.
//
// # Record sizes
//
// Every record is measured before it is produced against
// Config.MaxRecordBytes, which the session derives from the
// max.message.bytes of the topics it writes (minus
// schemas.RecordOverheadBytes). Sizes are counted as the JSON encoder
// writes them ("<" is six bytes). Frames are cut when their encoded
// content reaches Config.MaxFrameBytes (at most a quarter of the record
// limit); l/, c/ and d/ changelog records are chunked at 256 KiB; a room
// carries an upper bound of its state's encoded size and an event that
// would take it past the limit is dead-lettered (ReasonTooLarge) before
// it changes anything. With the topics `ovation topics create` makes
// (schemas.TopicMaxMessageBytes, 8 MiB) this never happens:
// WorstCaseStateBytes, every room limit used with the worst escaping, is
// 7,588,767 bytes. Should a record still be too large, it is not
// produced: the transaction aborts once and the events of that room in it
// are dead-lettered (too_large) when they come again, so no input aborts a
// partition forever. A broker refusing a record as too large means a
// topic's max.message.bytes changed under the session: the session ends
// and the next one reads the limits again.
//
// # Room lifecycle
//
// Presence never creates a room. A room with no event for Config.RoomIdle
// (and no live presence report) is evicted: one contiguous group of
// changelog records (the ids still inside the dedup window by the
// processor's clock as fresh d/ records, a checkpoint, the public state
// (p/), the core record marked evicted) and, in memory, only where that
// group is. A room whose snapshot lags its frames is evicted once the
// snapshot has caught up. Its next
// event loads it back with one short read inside the transaction. A
// partition restored on assignment keeps evicted rooms evicted, so memory
// follows the rooms active within RoomIdle, before and after a restart.
// Flush looks only at rooms that changed, rooms with presence reports
// and rooms whose snapshot lags.
//
// # Changelog
//
// See changelog.go: per room a core record (counters, private quiz
// answers, who opened each emoji slot, the last event's processor time,
// closed, evicted), the public state as a p/ record (the bytes of the
// room's latest snapshot, written with it) and an f/ record per frame
// since (the frame's bytes, tombstoned when p/ is rewritten: a changed
// room costs its delta and a small core record, not a re-encode of its
// state), l/ records of private changes per frame, checkpoints that
// replace the l/ records once they outweigh the last checkpoint, d/
// records of accepted (user, id) pairs for the dedup window, and while a
// room is rebuilt its r/ request and q/ stashed events. The
// changelog's "o" record holds the partition's next events offset and is
// checked against the group's committed offset on restore.
//
// # Rebuild into a new epoch
//
// A RebuildRequest is a control record (header HeaderControl) written to
// the events topic in the room's partition (`ovation replay --into
// epoch`). The owning processor acts on it in order, in two steps (see
// rebuild.go) so the read of the room's history never holds a
// transaction open: in the transaction that consumes the request it
// writes the old epoch's pending frame and an r/ record, and starts
// reading the room's events from FromOffset up to the request in a
// goroutine; meanwhile the room's events are stashed (q/ records) and the
// partition's other rooms go on. In the first transaction after the read
// it folds the history into a fresh room under the request's epoch and
// applies the stashed events after it. A crash in between restores r/ and
// q/ and reads again. Other consumers of the events topic skip the record
// as an invalid event.
package processors
