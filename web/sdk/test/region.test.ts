import { afterEach, describe, expect, it, vi } from "vitest";
import { OvationClient } from "../src/client.js";
import { newRoomState } from "../src/state.js";
import { FakeServer } from "./fakeserver.js";

// Two regions, each a fake pusher: the client's home (eu) and the region
// that takes its rooms over (us). The factory routes by host, as DNS would.
function regions() {
  const eu = new FakeServer();
  const us = new FakeServer();
  const factory = (url: string) => (new URL(url).host === "eu.test" ? eu.factory(url) : us.factory(url));
  return { eu, us, factory };
}

const EU = "ws://eu.test/v1/stream";
const US = "ws://us.test/v1/stream";
const clients: OvationClient[] = [];
afterEach(() => {
  while (clients.length) clients.pop()!.close();
});

describe("region failover (fallbackURLs)", () => {
  it("moves to the takeover region after failed connects, resets into its epoch, and counts a queued publish once", async () => {
    const { eu, us, factory } = regions();
    const c = new OvationClient({ url: EU, fallbackURLs: [US], failoverAfter: 3, user: "u", webSocket: factory, backoff: { initialMs: 5, maxMs: 20 } });
    clients.push(c);
    const moves: string[] = [];
    c.on("region", (u) => moves.push(u));
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    eu.emit("r", { reactions: { a: 1 }, totals: { reactions: 1 } });
    eu.emit("r", { reactions: { a: 2 }, totals: { reactions: 2 } });
    await vi.waitFor(() => expect(room.state.reactions).toEqual({ a: 3 }));

    // EU is lost. US took the room over: rebuilt from the mirrored events
    // into its own epoch, and it knows the ids it mirrored.
    eu.accept = false;
    us.resetEpoch("r", "t1", { ...newRoomState(), reactions: { a: 3 }, totals: { ...newRoomState().totals, reactions: 3 } });
    eu.last.drop();
    const ack = room.publish({ type: "reaction", data: { emoji: "👏" } });

    await vi.waitFor(() => expect(moves).toEqual([US]));
    expect(c.url).toBe(US);
    // One healthy connection, then exactly failoverAfter failed ones.
    expect(eu.sockets.length).toBe(1 + 3);
    await ack;
    await vi.waitFor(() => expect(room.position).toEqual({ epoch: "t1", seq: 1 }));
    expect(room.state.reactions).toEqual({ a: 3, "👏": 1 });
    expect(us.publishes).toBe(1);
    expect(eu.publishes).toBe(0);
    // Live frames in the new region continue the new epoch.
    us.emit("r", { reactions: { a: 1 }, totals: { reactions: 1 } });
    await vi.waitFor(() => expect(room.state.reactions).toEqual({ a: 4, "👏": 1 }));
    expect(room.stream.gaps).toBe(0);
  });

  it("goes back home when the takeover region goes away (failback), wrapping the list", async () => {
    const { eu, us, factory } = regions();
    const c = new OvationClient({ url: EU, fallbackURLs: [US], failoverAfter: 2, user: "u", webSocket: factory, backoff: { initialMs: 5, maxMs: 20 } });
    clients.push(c);
    const moves: string[] = [];
    c.on("region", (u) => moves.push(u));
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    eu.accept = false;
    us.resetEpoch("r", "t1", { ...newRoomState(), reactions: { a: 3 } });
    eu.last.drop();
    await vi.waitFor(() => expect(room.position?.epoch).toBe("t1"));
    // Failback: home rebuilt the room from every event into a new epoch;
    // the takeover stops.
    eu.resetEpoch("r", "h2", { ...newRoomState(), reactions: { a: 5 } });
    eu.accept = true;
    us.accept = false;
    us.last.drop();
    await vi.waitFor(() => expect(room.position?.epoch).toBe("h2"));
    expect(moves).toEqual([US, EU]);
    expect(c.url).toBe(EU);
    expect(room.state.reactions).toEqual({ a: 5 });
  });

  it("stays on its URL through drops that still reach a welcome, and without fallbackURLs", async () => {
    const { eu, factory } = regions();
    const c = new OvationClient({ url: EU, failoverAfter: 1, user: "u", webSocket: factory, backoff: { initialMs: 5, maxMs: 20 } });
    clients.push(c);
    const moves: string[] = [];
    c.on("region", (u) => moves.push(u));
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    eu.accept = false;
    eu.last.drop();
    await vi.waitFor(() => expect(eu.sockets.length).toBeGreaterThanOrEqual(4));
    eu.accept = true;
    await vi.waitFor(() => expect(c.status).toBe("open"));
    expect(moves).toEqual([]);
    expect(c.url).toBe(EU);

    const { eu: eu2, us: us2, factory: f2 } = regions();
    const d = new OvationClient({ url: EU, fallbackURLs: [US], failoverAfter: 2, user: "u", webSocket: f2, backoff: { initialMs: 5, maxMs: 20 } });
    clients.push(d);
    await vi.waitFor(() => expect(d.status).toBe("open"));
    for (let i = 0; i < 3; i++) {
      // Each drop comes after a welcome: not a failed connect.
      const n = eu2.sockets.length;
      eu2.last.drop();
      await vi.waitFor(() => expect(eu2.sockets.length).toBe(n + 1));
      await vi.waitFor(() => expect(d.status).toBe("open"));
    }
    expect(d.url).toBe(EU);
    expect(us2.sockets.length).toBe(0);
  });
});
