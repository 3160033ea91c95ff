import { afterEach, describe, expect, it, vi } from "vitest";
import { OvationClient } from "../src/client.js";
import { PublishError, QueueFullError } from "../src/errors.js";
import { Backoff } from "../src/backoff.js";
import { newRoomState } from "../src/state.js";
import { FakeServer } from "./fakeserver.js";

const clients: OvationClient[] = [];
function connect(server: FakeServer, extra: Partial<ConstructorParameters<typeof OvationClient>[0]> = {}): OvationClient {
  const c = new OvationClient({ url: "ws://test/v1/stream", user: "u", webSocket: server.factory, backoff: { initialMs: 5, maxMs: 20 }, ...extra });
  clients.push(c);
  return c;
}
afterEach(() => {
  while (clients.length) clients.pop()!.close();
});

const open = (c: OvationClient) => vi.waitFor(() => expect(c.status).toBe("open"));

describe("OvationClient", () => {
  it("counts a publish once when its socket dropped before the ack", async () => {
    const server = new FakeServer();
    const c = connect(server);
    const room = c.room("r");
    await open(c);
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    // The server takes the event into Kafka but the ack is lost with the socket.
    server.ackPublishes = false;
    const p = room.publish({ type: "reaction", data: { emoji: "👏" } });
    await vi.waitFor(() => expect(server.publishes).toBe(1));
    expect(c.pending).toBe(1);
    server.ackPublishes = true;
    server.last.drop();
    const ack = await p;
    expect(ack.attempts).toBe(2);
    expect(server.publishes).toBe(2);
    const ids = server.sockets.flatMap((s) => s.sent).filter((m) => m.op === "publish").map((m) => (m.event as { id: string }).id);
    expect(new Set(ids).size).toBe(1);
    await vi.waitFor(() => expect(room.state.reactions["👏"]).toBe(1));
    expect(room.state.totals.reactions).toBe(1);
    expect(c.pending).toBe(0);
    expect(c.connects).toBe(2);
  });

  it("queues while offline, keeps order, and delivers each event once", async () => {
    const server = new FakeServer();
    server.accept = false;
    const c = connect(server, { maxQueuedEvents: 3 });
    const room = c.room("r");
    const ps = ["one", "two", "three"].map((text) => room.publish({ type: "chat.message", data: { text } }));
    await expect(room.publish({ type: "chat.message", data: { text: "four" } })).rejects.toBeInstanceOf(QueueFullError);
    expect(c.pending).toBe(3);
    await vi.waitFor(() => expect(server.sockets.length).toBeGreaterThanOrEqual(2));
    server.accept = true;
    const heard: string[] = [];
    room.on("chat", (lines) => heard.push(...lines.map((l) => l.text)));
    await Promise.all(ps);
    await vi.waitFor(() => expect(room.state.chat.map((l) => l.text)).toEqual(["one", "two", "three"]));
    expect(heard).toEqual(["one", "two", "three"]);
    expect(server.publishes).toBe(3);
  });

  it("ignores duplicate frames and resyncs on a gap from the last good position", async () => {
    const server = new FakeServer();
    const c = connect(server);
    const room = c.room("r");
    const resyncs: unknown[] = [];
    room.on("resync", (reason, at) => resyncs.push([reason, at]));
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    server.emit("r", { reactions: { a: 1 } });
    // Duplicate delivery of seq 1.
    server.last.deliver({ type: "frame", room: "r", epoch: "e1", seq: 1, ts: 1, delta: { reactions: { a: 1 } } });
    expect(room.state.reactions).toEqual({ a: 1 });
    expect(room.stream.duplicates).toBe(1);
    server.dropFrames.add(2);
    server.emit("r", { reactions: { a: 10 } }); // lost in transit
    server.emit("r", { reactions: { a: 100 } }); // seq 3: a gap
    expect(resyncs).toEqual([["gap", { epoch: "e1", seq: 1 }]]);
    const subs = server.last.sent.filter((m) => m.op === "subscribe");
    expect(subs.at(-1)).toMatchObject({ room: "r", epoch: "e1", seq: 1 });
    await vi.waitFor(() => expect(room.state.reactions).toEqual({ a: 111 }));
    expect(room.position).toEqual({ epoch: "e1", seq: 3 });
    expect(room.stream.gaps).toBe(1);
  });

  it("resumes after a reconnect with the missed frames only", async () => {
    const server = new FakeServer();
    const c = connect(server);
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    server.emit("r", { reactions: { a: 1 } });
    server.accept = false;
    server.last.drop();
    await vi.waitFor(() => expect(c.status).toBe("reconnecting"));
    server.emit("r", { reactions: { a: 2 } });
    server.emit("r", { reactions: { a: 4 } });
    server.accept = true;
    await vi.waitFor(() => expect(room.state.reactions).toEqual({ a: 7 }));
    const sub = server.last.sent.find((m) => m.op === "subscribe");
    expect(sub).toMatchObject({ epoch: "e1", seq: 1 });
    expect(room.stream.snapshots).toBe(1); // only the first subscribe's
  });

  it("replaces the state when the server answers recovered:false", async () => {
    const server = new FakeServer();
    const c = connect(server);
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    server.emit("r", { reactions: { a: 5 }, chat: [{ id: "m1", user: "u", text: "old", ts: 1 }] });
    await vi.waitFor(() => expect(room.state.reactions).toEqual({ a: 5 }));
    const rebuilt = { ...newRoomState(), reactions: { b: 2 } };
    server.resetEpoch("r", "e2", rebuilt);
    server.last.drop();
    await vi.waitFor(() => expect(room.position).toEqual({ epoch: "e2", seq: 0 }));
    expect(room.state.reactions).toEqual({ b: 2 });
    expect(room.state.chat).toEqual([]);
    expect(room.stream.snapshots).toBe(2);
  });
});

describe("Backoff", () => {
  it("grows exponentially to its cap with jitter in [cap/2, cap]", () => {
    const lo = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    expect([1, 2, 3, 4, 5, 6].map(() => lo.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const hi = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
    expect([1, 2, 3, 4, 5].map(() => hi.next())).toEqual([100, 200, 400, 800, 1000]);
    hi.reset();
    expect(hi.next()).toBe(100);
  });
});

describe("OvationClient protocol details", () => {
  it("retries a subscribe the server refused as unavailable", async () => {
    const server = new FakeServer();
    server.refuseSubscribes = 2;
    const c = connect(server);
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    expect(server.last.sent.filter((m) => m.op === "subscribe")).toHaveLength(3);
    server.emit("r", { reactions: { a: 1 } });
    expect(room.state.reactions).toEqual({ a: 1 });
  });

  it("applies a merged frame (from_seq) that continues the position", async () => {
    const server = new FakeServer();
    const c = connect(server);
    const room = c.room("r");
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    server.last.deliver({ type: "frame", room: "r", epoch: "e1", seq: 3, from_seq: 1, ts: 1, delta: { reactions: { a: 3 } } });
    expect(room.position).toEqual({ epoch: "e1", seq: 3 });
    expect(room.state.reactions).toEqual({ a: 3 });
  });

  it("resends a publish refused as rate_limited with the same id, and rejects a final refusal", async () => {
    const server = new FakeServer();
    server.refusePublish = { code: "rate_limited", retry_after: 0.01 };
    const c = connect(server);
    const room = c.room("r");
    await open(c);
    const ack = await room.publish({ id: "evt-1", type: "reaction", data: { emoji: "👏" } });
    expect(ack).toEqual({ id: "evt-1", room: "r", attempts: 2 });
    await vi.waitFor(() => expect(room.state.reactions).toEqual({ "👏": 1 }));
    server.refusePublish = { code: "forbidden" };
    await expect(room.publish({ type: "poll.close", data: { poll_id: "p" } })).rejects.toMatchObject({ name: "PublishError", code: "forbidden" });
    expect(c.pending).toBe(0);
  });

  it("refuses an invalid event before sending it, naming the field and rule", async () => {
    const server = new FakeServer();
    const c = connect(server);
    await open(c);
    await expect(c.publish("r", { type: "chat.message", data: { text: "   " } })).rejects.toMatchObject({ name: "EventValidationError", field: "data.text", rule: "required" });
    await expect(c.publish("r", { type: "poll.vote", data: { poll_id: "p", option: 10 } })).rejects.toMatchObject({ field: "data.option", rule: "range" });
    await expect(c.publish("r", { id: "has space", type: "reaction", data: { emoji: "👏" } })).rejects.toMatchObject({ field: "id", rule: "chars" });
    expect(server.publishes).toBe(0);
  });

  it("stops on 4001 with a static token, reconnects at once on 4012", async () => {
    const server = new FakeServer();
    const c = connect(server, { token: "t", backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await open(c);
    const t0 = Date.now();
    server.last.closeWith(4012, "draining");
    await vi.waitFor(() => expect(c.connects).toBe(2));
    expect(Date.now() - t0).toBeLessThan(2_000); // not the 60 s backoff
    server.last.closeWith(4001, "unauthorized");
    await vi.waitFor(() => expect(c.status).toBe("closed"));
    await new Promise((r) => setTimeout(r, 50));
    expect(server.sockets).toHaveLength(2);
    expect(server.sockets[0].url).toContain("token=t");
  });

  it("falls back to HTTP publish when the pusher has no publish path, keeping the id", async () => {
    const server = new FakeServer();
    server.refusePublish = { code: "publish_unavailable" };
    const posted: { url: string; body: string }[] = [];
    const fakeFetch = (async (url: string, init: { body: string }) => {
      posted.push({ url: String(url), body: init.body });
      return new Response(JSON.stringify({ id: JSON.parse(init.body).id, status: "accepted" }), { status: 200 });
    }) as unknown as typeof fetch;
    const c = connect(server, { fetch: fakeFetch });
    await open(c);
    const ack = await c.publish("r", { id: "evt-h", type: "reaction", data: { emoji: "👏" } });
    expect(ack.id).toBe("evt-h");
    expect(posted).toHaveLength(1);
    expect(posted[0].url).toBe("http://test/v1/rooms/r/events?user=u");
    expect(JSON.parse(posted[0].body)).toEqual({ id: "evt-h", type: "reaction", data: { emoji: "👏" } });
  });
});

describe("OvationClient token refresh", () => {
  it("refreshes through the token function on the server's hint, on the open socket", async () => {
    const server = new FakeServer();
    let n = 0;
    const c = connect(server, { token: () => `exp:${1_900_000_000 + ++n}` });
    const room = c.room("r");
    await open(c);
    await vi.waitFor(() => expect(room.stream.synced).toBe(true));
    const expiring: number[][] = [];
    const refreshed: number[] = [];
    c.on("tokenExpiring", (exp, closeAt) => expiring.push([exp, closeAt]));
    c.on("tokenRefreshed", (exp) => refreshed.push(exp));
    server.last.deliver({ type: "refresh", exp: 1_900_000_001, close_at: 1_900_000_031_000 });
    await vi.waitFor(() => expect(refreshed).toEqual([1_900_000_002]));
    expect(expiring).toEqual([[1_900_000_001, 1_900_000_031_000]]);
    expect(server.refreshTokens).toEqual(["exp:1900000002"]);
    expect(server.sockets[0].url).toContain("token=exp%3A1900000001");
    // Same socket throughout, and frames keep coming.
    expect(c.connects).toBe(1);
    server.emit("r", { reactions: { a: 1 } });
    expect(room.state.reactions).toEqual({ a: 1 });
  });

  it("retries a refused refresh while the deadline is ahead", async () => {
    const server = new FakeServer();
    server.refuseRefresh.push("token_not_newer");
    let n = 0;
    const c = connect(server, { token: () => `exp:${2_000_000_000 + ++n}` });
    const errors: string[] = [];
    c.on("error", (e) => errors.push(e.message));
    await open(c);
    const refreshed: number[] = [];
    c.on("tokenRefreshed", (exp) => refreshed.push(exp));
    server.last.deliver({ type: "refresh", exp: 2_000_000_001, close_at: Date.now() + 3_000 });
    await vi.waitFor(() => expect(refreshed).toEqual([2_000_000_003]), { timeout: 3_000 });
    expect(server.refreshTokens).toEqual(["exp:2000000002", "exp:2000000003"]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("token_not_newer");
    expect(c.connects).toBe(1);
  });

  it("with a static token only tells the app; refreshToken(token) sends one and reports refusals", async () => {
    const server = new FakeServer();
    const c = connect(server, { token: "static" });
    await open(c);
    const expiring: number[] = [];
    c.on("tokenExpiring", (exp) => expiring.push(exp));
    server.last.deliver({ type: "refresh", exp: 1_800_000_000, close_at: 1_800_000_030_000 });
    await vi.waitFor(() => expect(expiring).toEqual([1_800_000_000]));
    await new Promise((r) => setTimeout(r, 20));
    expect(server.refreshTokens).toEqual([]);

    server.refuseRefresh.push("token_wrong_user");
    const refused = await c.refreshToken("exp:1800000100").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PublishError);
    expect((refused as PublishError).code).toBe("token_wrong_user");
    await expect(c.refreshToken("exp:1800000200")).resolves.toBe(1_800_000_200);
    // The given token is also the one for the next connect.
    server.last.drop();
    await vi.waitFor(() => expect(c.connects).toBe(2));
    expect(server.last.url).toContain("token=exp%3A1800000200");
  });

  it("forgets a room the refreshed token no longer grants, with the server's code", async () => {
    const server = new FakeServer();
    const c = connect(server, { token: () => "t" });
    const keep = c.room("keep");
    const gone = c.room("gone");
    await vi.waitFor(() => expect(keep.stream.synced && gone.stream.synced).toBe(true));
    const errs: PublishError[] = [];
    gone.on("error", (e) => errs.push(e));
    server.last.deliver({ type: "unsubscribed", room: "gone", code: "forbidden", message: "no longer granted" });
    expect(errs.map((e) => e.code)).toEqual(["forbidden"]);
    server.last.drop();
    await vi.waitFor(() => expect(c.connects).toBe(2));
    await vi.waitFor(() => expect(server.last.sent.filter((m) => m.op === "subscribe").map((m) => m.room)).toEqual(["keep"]));
  });

  it("reconnects with a fresh token after 4002, and fails a pending refresh", async () => {
    const server = new FakeServer();
    let n = 0;
    const c = connect(server, { token: () => `tok${++n}` });
    await open(c);
    server.answerRefresh = false;
    const pending = c.refreshToken("exp:1").catch((e: unknown) => e);
    server.last.closeWith(4002, "token expired");
    expect(await pending).toBeInstanceOf(Error);
    await vi.waitFor(() => expect(c.connects).toBe(2));
    expect(server.last.url).toContain("token=tok2");
  });
});
