import { describe, expect, it } from "vitest";
import { RoomStream } from "../src/room.js";
import { newRoomState } from "../src/state.js";
import type { StreamFrame, StreamSnapshot } from "../src/room.js";

const snap = (seq: number, epoch = "e1", reactions: Record<string, number> = {}): StreamSnapshot => ({
  epoch, seq, state: { ...newRoomState(), reactions },
});
const frame = (seq: number, n = 1, epoch = "e1", from_seq?: number): StreamFrame => ({
  epoch, seq, from_seq, delta: { reactions: { "👏": n }, totals: { reactions: n } },
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
    // Until the resync is answered every frame waits, even the right one.
    expect(r.frame(frame(2))).toBe("waiting");
    expect(r.frame(frame(4))).toBe("waiting");
    expect(r.synced).toBe(false);
    r.subscribing();
    r.subscribed(true);
    for (const s of [2, 3, 4]) expect(r.frame(frame(s))).toBe("applied");
    expect(r.state.reactions["👏"]).toBe(4);
    expect(r.gaps).toBe(1);
    expect(r.synced).toBe(true);
  });

  it("applies a merged frame only when from_seq continues the position", () => {
    const r = new RoomStream("r");
    r.snapshot(snap(5));
    expect(r.frame(frame(9, 4, "e1", 6))).toBe("applied");
    expect(r.position()).toEqual({ epoch: "e1", seq: 9 });
    expect(r.frame(frame(9, 4, "e1", 6))).toBe("duplicate");
    // Overlapping (from 8, but 9 is applied) cannot be applied in part.
    expect(r.frame(frame(12, 3, "e1", 8))).toBe("gap");
    expect(r.state.reactions["👏"]).toBe(4);
  });

  it("starts an empty room's epoch from its first frame", () => {
    const r = new RoomStream("r");
    r.snapshot(snap(0, ""));
    expect(r.frame(frame(2, 1, "e9"))).toBe("gap");
    r.subscribing();
    r.snapshot(snap(0, ""));
    expect(r.frame(frame(1, 1, "e9"))).toBe("applied");
    expect(r.position()).toEqual({ epoch: "e9", seq: 1 });
  });

  it("treats another epoch as a resync, and recovered:false replaces the state", () => {
    const r = new RoomStream("r");
    r.snapshot(snap(5, "e1", { "👏": 50 }));
    r.frame(frame(6, 2));
    expect(r.state.reactions["👏"]).toBe(52);
    expect(r.frame(frame(1, 1, "e2"))).toBe("epoch");
    r.subscribing();
    r.subscribed(false);
    expect(r.frame(frame(4, 1, "e2"))).toBe("waiting");
    r.snapshot(snap(3, "e2", { "🔥": 9 }));
    expect(r.state.reactions).toEqual({ "🔥": 9 });
    expect(r.position()).toEqual({ epoch: "e2", seq: 3 });
    expect(r.frame(frame(4, 1, "e2"))).toBe("applied");
    expect(r.state.reactions).toEqual({ "🔥": 9, "👏": 1 });
  });

  it("waits for a snapshot before applying anything", () => {
    const r = new RoomStream("r");
    expect(r.frame(frame(1))).toBe("waiting");
    r.subscribed(true); // no position yet: still needs a snapshot
    expect(r.frame(frame(1))).toBe("waiting");
    expect(r.state.reactions).toEqual({});
  });
});
