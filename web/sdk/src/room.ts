// RoomStream keeps one room's state in step with the server's frames. It
// is pure (no sockets, no timers) so its integrity rules are unit-tested
// directly: a frame is applied only if it is exactly the next seq of the
// current epoch; an older one is a duplicate and ignored; a newer one is a
// gap and asks for a resync from the last good position, never a skip.

import { applyDelta, cloneState, newRoomState, normalizeState } from "./state.js";
import type { Frame, RoomState, Snapshot } from "./state.js";

/** FrameResult says what RoomStream.frame did with a frame. */
export type FrameResult =
  /** applied: the frame was the next seq and its delta is now in the state. */
  | "applied"
  /** duplicate: its seq was already applied; nothing changed. */
  | "duplicate"
  /** gap: a seq is missing before it; the caller must resync from position(). */
  | "gap"
  /** epoch: it belongs to another epoch than the state; the caller must resync. */
  | "epoch"
  /** pending: a resync is in flight; frames wait for its answer. */
  | "pending"
  /** unsynced: no snapshot yet; the caller is waiting for one. */
  | "unsynced";

/** Position is a point in a room's history: after frame seq of epoch. */
export interface Position {
  epoch: string;
  seq: number;
}

/** RoomStream is one room's state plus the position it reflects. */
export class RoomStream {
  readonly room: string;
  private st: RoomState = newRoomState();
  private pos: Position | null = null;
  private resyncing = false;
  /** duplicates counts frames ignored because they were already applied. */
  duplicates = 0;
  /** gaps counts the gaps and epoch changes that caused a resync. */
  gaps = 0;
  /** resets counts the snapshots that replaced the state (recovered: false). */
  resets = 0;

  constructor(room: string) {
    this.room = room;
  }

  /** state is the room's current state; treat it as read-only. */
  get state(): RoomState {
    return this.st;
  }

  /** position is the last frame applied, or null before the first snapshot. */
  position(): Position | null {
    return this.pos ? { ...this.pos } : null;
  }

  /** synced reports whether the state reflects a known position. */
  get synced(): boolean {
    return this.pos !== null && !this.resyncing;
  }

  /**
   * snapshot replaces the state with snap: the server's answer when it
   * cannot replay what was missed (recovered: false) or to a first
   * subscription. Whatever the state was, it is gone.
   */
  snapshot(snap: Snapshot): void {
    this.st = normalizeState(cloneState(normalizeState(snap.state)));
    this.pos = { epoch: snap.epoch, seq: snap.seq };
    this.resyncing = false;
    this.resets++;
  }

  /**
   * resumed marks that the server accepted a resume from position() and
   * will send the missed frames next (recovered: true).
   */
  resumed(): void {
    this.resyncing = false;
  }

  /** frame applies f if it is the next one; see FrameResult. */
  frame(f: Frame): FrameResult {
    if (this.pos === null) return "unsynced";
    if (f.epoch !== this.pos.epoch) {
      if (this.resyncing) return "pending";
      this.resyncing = true;
      this.gaps++;
      return "epoch";
    }
    if (f.seq <= this.pos.seq) {
      this.duplicates++;
      return "duplicate";
    }
    if (f.seq !== this.pos.seq + 1) {
      if (this.resyncing) return "pending";
      this.resyncing = true;
      this.gaps++;
      return "gap";
    }
    // The next seq is always safe to apply, even while a resync is in
    // flight: the resync resumes from a position, and frames already
    // applied will come back as duplicates.
    applyDelta(this.st, f.delta);
    this.pos.seq = f.seq;
    return "applied";
  }

  /** resyncFailed lets the next gap trigger a new resync (e.g. the socket dropped mid-resync). */
  resyncFailed(): void {
    this.resyncing = false;
  }
}
