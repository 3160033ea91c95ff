import { describe, expect, it } from "vitest";
import { RoomStream } from "../src/room.js";
import { newRoomState } from "../src/state.js";
import type { Frame, Snapshot } from "../src/state.js";

const snap = (seq: number, epoch = "e1", reactions: Record<string, number> = {}): Snapshot => ({
  room: "r", epoch, seq, ts: 1, state: { ...newRoomState(), reactions },
});
const frame = (seq: number, n = 1, epoch = "e1"): Frame => ({
  room: "r", epoch, seq, ts: 1, delta: { reactions: { "👏": n }, totals: { reactions: n } },
});

describe("RoomStream", () => {
  it("ignores duplicate frames", () => {
    const r = new RoomStream("r");
    r.snapshot(snap(10));
    expect(r.frame(frame(11))).toBe("applied");
    expect(r.frame(frame(12))).toBe("applied");
    expect(r.frame(frame(12))).toBe("duplicate");
    expect(r.frame(frame(11))).toBe("duplicate");
    expect(r.frame(frame(10))).toBe("duplicate");
    expect(r.state.reactions["👏"]).toBe(2);
    expect(r.state.totals.reactions).toBe(2);
    expect(r.position()).toEqual({ epoch: "e1", seq: 12 });
    expect(r.duplicates).toBe(3);
  });

  it("reports a gap once, keeps the last good position and never skips", () => {
    const r = new RoomStream("r");
    r.snapshot(snap(0));
    expect(r.frame(frame(1))).toBe("applied");
    expect(r.frame(frame(3))).toBe("gap");
    expect(r.position()).toEqual({ epoch: "e1", seq: 1 });
    expect(r.frame(frame(4))).toBe("pending");
    expect(r.synced).toBe(false);
    // The resync answer: frames from 2 on, with 1 again as a duplicate.
    r.resumed();
    expect(r.frame(frame(1))).toBe("duplicate");
    for (const s of [2, 3, 4]) expect(r.frame(frame(s))).toBe("applied");
    expect(r.state.reactions["👏"]).toBe(4);
    expect(r.gaps).toBe(1);
    expect(r.synced).toBe(true);
  });

  it("treats another epoch as a resync, and recovered:false replaces the state", () => {
    const r = new RoomStream("r");
    r.snapshot(snap(5, "e1", { "👏": 50 }));
    r.frame(frame(6, 2));
    expect(r.state.reactions["👏"]).toBe(52);
    expect(r.frame(frame(1, 1, "e2"))).toBe("epoch");
    r.snapshot(snap(3, "e2", { "🔥": 9 }));
    expect(r.state.reactions).toEqual({ "🔥": 9 });
    expect(r.position()).toEqual({ epoch: "e2", seq: 3 });
    expect(r.frame(frame(4, 1, "e2"))).toBe("applied");
    expect(r.state.reactions).toEqual({ "🔥": 9, "👏": 1 });
  });

  it("waits for a snapshot before applying anything", () => {
    const r = new RoomStream("r");
    expect(r.frame(frame(1))).toBe("unsynced");
    expect(r.state.reactions).toEqual({});
  });
});
