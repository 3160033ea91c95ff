// SSESocket: the stream over server-sent events (GET /v1/sse,
// docs/protocol.md §13), for networks whose proxies refuse WebSocket
// upgrades. It looks like a WebSocket to OvationClient (WebSocketLike), so
// every rule of the client (fold, gap, resync, resume, backoff) is the
// same code on both transports:
//   * subscribe and unsubscribe ops reopen the event stream with every
//     room and its position (positions=room=epoch+seq&…), so the pusher
//     resumes them exactly as on a socket;
//   * ping ops are answered by the stream's own heartbeat events;
//   * publish ops are answered with publish_unavailable, so the client
//     publishes over HTTP (POST /v1/rooms/{room}/events), same ids;
//   * refresh ops reopen the stream with the new token;
//   * the stream's close event, or its loss, closes the "socket" with the
//     pusher's close code, and the client reconnects as it would.

import type { WebSocketLike } from "./client.js";

/** EventSourceLike is the part of the browser EventSource the SDK uses. */
export interface EventSourceLike {
  onmessage: ((ev: { data: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(type: string, fn: (ev: { data: string }) => void): void;
  close(): void;
}

/** EventSourceFactory opens an event stream; the default is the global EventSource. */
export type EventSourceFactory = (url: string) => EventSourceLike;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

interface SSERoom {
  epoch?: string;
  seq?: number;
  /** subID is the id of a subscribe op not answered yet. */
  subID?: string;
}

/** sseURL turns a stream URL (ws(s)://host/v1/stream?token=…) into the SSE one. */
export function sseURL(streamURL: string): URL {
  const u = new URL(streamURL);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = u.pathname.replace(/\/v1\/stream$/, "/v1/sse");
  return u;
}

export class SSESocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  private readonly base: URL;
  private readonly rooms = new Map<string, SSERoom>();
  private es: EventSourceLike | null = null;
  private reopenTimer: ReturnType<typeof setTimeout> | null = null;
  private welcomed = false;

  constructor(
    streamURL: string,
    private readonly factory: EventSourceFactory,
  ) {
    this.base = sseURL(streamURL);
    // The "socket" is open at once: the client now sends its subscribes,
    // which open the event stream.
    setTimeout(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this.onopen?.({});
    }, 0);
  }

  send(data: string): void {
    if (this.readyState !== OPEN) throw new Error("SSESocket: not open");
    const m = JSON.parse(data) as { op: string; id?: string; room?: string; epoch?: string; seq?: number; token?: string };
    switch (m.op) {
      case "subscribe": {
        const r: SSERoom = { subID: m.id };
        if (m.epoch !== undefined) {
          r.epoch = m.epoch;
          r.seq = m.seq ?? 0;
        }
        this.rooms.set(m.room!, r);
        this.reopenSoon();
        return;
      }
      case "unsubscribe":
        this.rooms.delete(m.room!);
        this.deliver({ type: "unsubscribed", id: m.id, room: m.room });
        this.reopenSoon();
        return;
      case "publish":
        this.deliver({ type: "error", id: m.id, room: m.room, code: "publish_unavailable", message: "publishing over HTTP while the stream is server-sent events" });
        return;
      case "refresh":
        if (m.token) this.base.searchParams.set("token", m.token);
        this.deliver({ type: "refreshed", id: m.id, exp: jwtExp(m.token) });
        this.reopenSoon();
        return;
      default:
        return; // ping: the stream's heartbeat keeps the client's idle check fed
    }
  }

  close(code = 1000, reason = ""): void {
    this.finish(code, reason);
  }

  private deliver(m: object): void {
    const data = JSON.stringify(m);
    setTimeout(() => {
      if (this.readyState === OPEN) this.onmessage?.({ data });
    }, 0);
  }

  private reopenSoon(): void {
    if (this.reopenTimer) return;
    // Subscribes come paced; one stream for the batch.
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      this.reopen();
    }, 30);
  }

  private reopen(): void {
    if (this.readyState !== OPEN) return;
    this.es?.close();
    this.es = null;
    if (this.rooms.size === 0) return;
    const u = new URL(this.base.toString());
    const pos = new URLSearchParams();
    for (const [name, r] of this.rooms) {
      if (r.epoch !== undefined) pos.set(name, `${r.epoch} ${r.seq ?? 0}`);
    }
    u.searchParams.set("rooms", [...this.rooms.keys()].join(","));
    if ([...pos.keys()].length > 0) u.searchParams.set("positions", pos.toString());
    const es = this.factory(u.toString());
    this.es = es;
    es.onmessage = (ev) => {
      if (this.es !== es || this.readyState !== OPEN) return;
      let m: { type?: string; id?: string; room?: string; epoch?: string; seq?: number };
      try {
        m = JSON.parse(ev.data) as typeof m;
      } catch {
        return;
      }
      const r = m.room !== undefined ? this.rooms.get(m.room) : undefined;
      switch (m.type) {
        case "welcome":
          if (this.welcomed) return; // one per "socket", however often the stream reopens
          this.welcomed = true;
          break;
        case "subscribed":
          if (!r || r.subID === undefined) return; // a reopen's resubscribe the client did not ask for
          m.id = r.subID;
          r.subID = undefined;
          ev = { data: JSON.stringify(m) };
          break;
        case "snapshot":
        case "frame":
          if (r) {
            r.epoch = m.epoch;
            r.seq = m.seq;
          }
          break;
      }
      this.onmessage?.({ data: ev.data });
    };
    es.addEventListener("ping", () => {
      if (this.es === es) this.deliver({ type: "pong", ts: Date.now() });
    });
    es.addEventListener("close", (ev) => {
      if (this.es !== es) return;
      let code = 1006;
      let reason = "";
      try {
        const c = JSON.parse(ev.data) as { code?: number; reason?: string };
        code = c.code ?? 1006;
        reason = c.reason ?? "";
      } catch {
        // keep 1006
      }
      this.finish(code, reason);
    });
    es.onerror = () => {
      // The stream failed (or EventSource is about to reconnect on its
      // own): the client reconnects and resumes, as after a socket loss.
      if (this.es === es) this.finish(1006, "event stream lost");
    };
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    const wasOpen = this.readyState === OPEN || this.readyState === CONNECTING;
    this.readyState = CLOSED;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.es?.close();
    this.es = null;
    if (wasOpen) setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** jwtExp reads a JWT's exp claim (unverified: the server verifies), 0 if none. */
function jwtExp(token: string | undefined): number {
  try {
    const body = token?.split(".")[1];
    if (!body) return 0;
    const json = JSON.parse(atob(body.replace(/-/g, "+").replace(/_/g, "/"))) as { exp?: number };
    return typeof json.exp === "number" ? json.exp : 0;
  } catch {
    return 0;
  }
}
