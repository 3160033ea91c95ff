// RoomStream keeps one room's state in step with the server's frames,
// following the client rule of docs/protocol.md §2. It is pure (no sockets,
// no timers) so its integrity rules are unit-tested directly: a frame is
// applied only if it continues the current position; an older one is a
// duplicate and ignored; anything else is a gap (or another epoch) that
// asks for a resync from the last good position, never a silent skip.

import { applyDelta, cloneState, newRoomState, normalizeState } from "./state.js";
import type { Delta, RoomState } from "./state.js";

/** FrameResult says what RoomStream.frame did with a frame. */
export type FrameResult =
  /** applied: the frame continued the position and its delta is in the state. */
  | "applied"
  /** duplicate: its seqs were already applied; nothing changed. */
  | "duplicate"
  /** gap: frames are missing before it; resubscribe from position(). */
  | "gap"
  /** epoch: it belongs to another epoch than the state; resubscribe from position(). */
  | "epoch"
  /** waiting: a (re)subscribe is in flight; frames are ignored until its reply. */
  | "waiting";

/** Position is a point in a room's history: after frame seq of epoch. */
export interface Position {
  epoch: string;
  seq: number;
}

/** StreamFrame is the part of a frame that RoomStream reads. */
export interface StreamFrame {
  epoch: string;
  seq: number;
  from_seq?: number;
  delta: Delta;
}

/** StreamSnapshot is the part of a snapshot that RoomStream reads. */
export interface StreamSnapshot {
  epoch: string;
  seq: number;
  state: RoomState;
}

/** RoomStream is one room's state plus the position it reflects. */
export class RoomStream {
  readonly room: string;
  private st: RoomState = newRoomState();
  private pos: Position | null = null;
  private waiting = true;
  /** duplicates counts frames ignored because they were already applied. */
  duplicates = 0;
  /** gaps counts the gaps and epoch changes that caused a resync. */
  gaps = 0;
  /** snapshots counts the snapshots that replaced the state. */
  snapshots = 0;
  /** applied counts the frames applied. */
  applied = 0;

  constructor(room: string) {
    this.room = room;
  }

  /** state is the room's current state; treat it as read-only. */
  get state(): RoomState {
    return this.st;
  }

  /** position is the last snapshot or frame applied, or null before the first snapshot. */
  position(): Position | null {
    return this.pos ? { ...this.pos } : null;
  }

  /** synced reports whether the state reflects a known position and no (re)subscribe is in flight. */
  get synced(): boolean {
    return this.pos !== null && !this.waiting;
  }

  /**
   * subscribing marks that a subscribe (first, resume or resync) was sent:
   * frames are ignored until subscribed(true) or a snapshot, because the
   * server's reply restarts the room's stream from the position sent.
   */
  subscribing(): void {
    this.waiting = true;
  }

  /**
   * subscribed takes the server's reply. recovered=true: the missed frames
   * follow, from the position that was sent. recovered=false: a snapshot
   * follows; keep ignoring frames until it comes.
   */
  subscribed(recovered: boolean): void {
    if (recovered && this.pos !== null) this.waiting = false;
  }

  /**
   * snapshot replaces the state and the position, whatever they were: the
   * answer to a subscribe that could not be resumed (recovered: false), or a
   * reset the server sends at any time.
   */
  snapshot(snap: StreamSnapshot): void {
    this.st = cloneState(normalizeState(snap.state));
    this.pos = { epoch: snap.epoch, seq: snap.seq };
    this.waiting = false;
    this.snapshots++;
  }

  /** frame applies f if it continues the position; see FrameResult. */
  frame(f: StreamFrame): FrameResult {
    if (this.pos === null || this.waiting) return "waiting";
    const from = f.from_seq ?? f.seq;
    const p = this.pos;
    const fresh = p.epoch === "" && p.seq === 0;
    if ((f.epoch === p.epoch && from === p.seq + 1) || (fresh && from === 1)) {
      applyDelta(this.st, f.delta);
      this.pos = { epoch: f.epoch, seq: f.seq };
      this.applied++;
      return "applied";
    }
    if (f.epoch === p.epoch && f.seq <= p.seq) {
      this.duplicates++;
      return "duplicate";
    }
    this.waiting = true;
    this.gaps++;
    return f.epoch === p.epoch || fresh ? "gap" : "epoch";
  }
}
