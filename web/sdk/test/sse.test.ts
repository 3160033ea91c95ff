import { afterEach, describe, expect, it, vi } from "vitest";
import { OvationClient } from "../src/client.js";
import type { WebSocketLike } from "../src/client.js";
import type { EventSourceLike } from "../src/sse.js";
import { FakeServer } from "./fakeserver.js";
import type { FakeSocket } from "./fakeserver.js";

// FakeEventSource is GET /v1/sse in miniature, as the pusher does it:
// one socket of the fake server per stream, subscribed to every room of
// the URL from its position, every message relayed as an event.
class FakeEventSource implements EventSourceLike {
  onmessage: ((ev: { data: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private readonly listeners = new Map<string, ((ev: { data: string }) => void)[]>();
  readonly sock: FakeSocket;
  closed = false;
  constructor(server: FakeServer, readonly url: string) {
    const u = new URL(url);
    const rooms = (u.searchParams.get("rooms") ?? "").split(",").filter(Boolean);
    const pos = new URLSearchParams(u.searchParams.get("positions") ?? "");
    this.sock = server.factory(url.replace("/v1/sse", "/v1/stream").replace(/^http/, "ws"));
    this.sock.onmessage = (ev) => {
      if (!this.closed) this.onmessage?.({ data: String(ev.data) });
    };
    this.sock.onclose = (ev) => {
      if (this.closed) return;
      for (const fn of this.listeners.get("close") ?? []) fn({ data: JSON.stringify({ code: ev.code, reason: ev.reason }) });
    };
    this.sock.onopen = () => {
      rooms.forEach((room, i) => {
        const p = pos.get(room);
        const m: Record<string, unknown> = { op: "subscribe", id: `sse${i}`, room };
        if (p !== null) {
          const at = p.lastIndexOf(" ");
          m.epoch = p.slice(0, at);
          m.seq = Number(p.slice(at + 1));
        }
        this.sock.send(JSON.stringify(m));
      });
    };
  }
  addEventListener(type: string, fn: (ev: { data: string }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  close(): void {
    this.closed = true;
    this.sock.close();
  }
}

const clients: OvationClient[] = [];
afterEach(() => {
  while (clients.length) clients.pop()!.close();
});

describe("SSE fallback", () => {
  it("moves to SSE when WebSockets are refused, stays exact, publishes over HTTP with one id, and moves back", async () => {
    const server = new FakeServer();
    let wsAllowed = false;
    const streams: FakeEventSource[] = [];
    // A proxy that refuses upgrades: the socket closes before it opens.
    const webSocket = (url: string): WebSocketLike => {
      if (wsAllowed) return server.factory(url);
      const s: WebSocketLike = { readyState: 0, onopen: null, onmessage: null, onclose: null, onerror: null, send() {}, close() {} };
      setTimeout(() => s.onclose?.({ code: 1006, reason: "" }), 1);
      return s;
    };
    const posted: string[] = [];
    const fetchFn = (async (_url: string, init: { body: string }) => {
      const ev = JSON.parse(init.body) as { id: string; type: string; data: { emoji: string } };
      posted.push(ev.id);
      if (posted.length === 1) return new Response(JSON.stringify({ error: { code: "publish_failed", message: "try again" } }), { status: 503 });
      if (!server.seen.has(ev.id)) {
        server.seen.add(ev.id);
        server.emit("r", { reactions: { [ev.data.emoji]: 1 }, totals: { chat: 0, reactions: 1, votes: 0, questions: 0, upvotes: 0, answers: 0 } });
      }
      return new Response(JSON.stringify({ accepted: 1 }), { status: 200 });
    }) as unknown as typeof fetch;
    const transports: string[] = [];
    const c = new OvationClient({
      url: "ws://test/v1/stream", user: "u", webSocket, fetch: fetchFn, backoff: { initialMs: 5, maxMs: 20 }, upgradeProbeMs: 50,
      eventSource: (url) => {
        const es = new FakeEventSource(server, url);
        streams.push(es);
        return es;
      },
    });
    clients.push(c);
    c.on("transport", (t) => transports.push(t));
    for (let i = 0; i < 3; i++) server.emit("r", { reactions: { "👏": 2 }, totals: { chat: 0, reactions: 2, votes: 0, questions: 0, upvotes: 0, answers: 0 } });
    const room = c.room("r");
    await vi.waitFor(() => expect(c.transport).toBe("sse"));
    await vi.waitFor(() => expect(room.state.reactions["👏"]).toBe(6));
    expect(streams[0].url).toContain("/v1/sse?");
    // Live frames over SSE.
    server.emit("r", { reactions: { "🔥": 1 }, totals: { chat: 0, reactions: 1, votes: 0, questions: 0, upvotes: 0, answers: 0 } });
    await vi.waitFor(() => expect(room.state.reactions["🔥"]).toBe(1));
    // The stream dies: the client resumes from its position (no snapshot).
    const before = room.stream.snapshots;
    streams[streams.length - 1].sock.drop();
    server.emit("r", { reactions: { "🔥": 1 }, totals: { chat: 0, reactions: 1, votes: 0, questions: 0, upvotes: 0, answers: 0 } });
    await vi.waitFor(() => expect(room.state.reactions["🔥"]).toBe(2));
    expect(streams[streams.length - 1].url).toContain("positions=");
    expect(room.stream.snapshots).toBe(before);
    // Publishing over HTTP, retried with its one id.
    const ack = await room.publish({ type: "reaction", data: { emoji: "😂" } });
    // One try on the stream (answered publish_unavailable), then HTTP:
    // refused once, accepted; one id throughout.
    expect(ack.attempts).toBe(3);
    expect(posted.length).toBe(2);
    expect(new Set(posted).size).toBe(1);
    await vi.waitFor(() => expect(room.state.reactions["😂"]).toBe(1));
    // Upgrades are allowed again: a probe gets through and the client
    // moves back to the WebSocket, resuming the room.
    wsAllowed = true;
    await vi.waitFor(() => expect(c.transport).toBe("ws"), { timeout: 3000 });
    server.emit("r", { reactions: { "👏": 1 }, totals: { chat: 0, reactions: 1, votes: 0, questions: 0, upvotes: 0, answers: 0 } });
    await vi.waitFor(() => expect(room.state.reactions["👏"]).toBe(7));
    expect(room.state).toEqual(server.room("r").state);
    expect(transports).toEqual(["sse", "ws"]);
    expect(room.stream.gaps).toBe(0);
  });

  it("does not take a pusher that is down for a proxy: a failed SSE connect goes back to WebSocket", async () => {
    const server = new FakeServer();
    server.accept = false;
    const c = new OvationClient({
      url: "ws://test/v1/stream", user: "u", webSocket: server.factory, backoff: { initialMs: 5, maxMs: 20 },
      eventSource: (url) => new FakeEventSource(server, url),
    });
    clients.push(c);
    c.room("r");
    const seen = new Set<string>();
    c.on("transport", (t) => seen.add(t));
    await vi.waitFor(() => expect(seen.has("ws")).toBe(true));
    server.accept = true;
    await vi.waitFor(() => expect(c.status).toBe("open"));
  });
});
