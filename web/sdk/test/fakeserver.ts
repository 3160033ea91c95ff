// A fake pusher for unit tests: an in-memory WebSocket pair speaking the
// protocol of docs/protocol.md, with a tiny aggregator that turns reaction
// and chat events into frames and, like the processors, counts an event id
// once however often it is published.

import type { WebSocketLike } from "../src/client.js";
import { applyDelta, newRoomState } from "../src/state.js";
import type { Delta, RoomState } from "../src/state.js";

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: Record<string, unknown>[] = [];
  constructor(readonly server: FakeServer, readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    const m = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(m);
    this.server.receive(this, m);
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.server.gone(this);
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  /** deliver sends a server message to the client. */
  deliver(m: object): void {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(m) });
  }

  /** closeWith closes the connection from the server side with a close code. */
  closeWith(code: number, reason = ""): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.server.gone(this);
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  /** drop kills the connection without a close frame (network loss). */
  drop(): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.server.gone(this);
    queueMicrotask(() => this.onclose?.({ code: 1006, reason: "" }));
  }
}

interface RoomLog {
  epoch: string;
  frames: { seq: number; delta: Delta }[];
  state: RoomState;
}

export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  readonly rooms = new Map<string, RoomLog>();
  /** seen is the dedup set: event ids already counted. */
  readonly seen = new Set<string>();
  /** publishes counts publish messages received, duplicates included. */
  publishes = 0;
  /** accept=false refuses connections (they close with 1006 at once). */
  accept = true;
  /** ackPublishes=false swallows acks (the event is still counted). */
  ackPublishes = true;
  /** resumeWindow: resumes from a seq older than this many frames get a snapshot. */
  resumeWindow = Infinity;
  /** refuseSubscribes answers this many subscribes with error "unavailable" first. */
  refuseSubscribes = 0;
  /** refusePublish, when set, answers each publish with this error code once per event id. */
  refusePublish: { code: string; retry_after?: number } | null = null;
  private refused = new Set<string>();
  /**
   * refuseRefresh answers the next refresh ops with these error codes, one
   * each; later ones are accepted. A token "exp:<n>" is accepted with exp n.
   */
  readonly refuseRefresh: string[] = [];
  /** refreshTokens lists the tokens of every refresh op received. */
  readonly refreshTokens: string[] = [];
  /** answerRefresh=false leaves refresh ops unanswered. */
  answerRefresh = true;
  /** dropFrames lists seqs that live delivery skips (to make a gap). */
  readonly dropFrames = new Set<number>();
  private subs = new Map<FakeSocket, Set<string>>();

  factory = (url: string): FakeSocket => {
    const s = new FakeSocket(this, url);
    this.sockets.push(s);
    queueMicrotask(() => {
      if (!this.accept) {
        s.readyState = 3;
        s.onclose?.({ code: 1006, reason: "" });
        return;
      }
      s.readyState = 1;
      this.subs.set(s, new Set());
      s.onopen?.({});
      s.deliver({ type: "welcome", node: "fake", user: "u", ts: Date.now(), ping_interval: 25, max_rooms: 100, max_message_bytes: 32768 });
    });
    return s;
  };

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }

  room(name: string): RoomLog {
    let r = this.rooms.get(name);
    if (!r) {
      r = { epoch: "e1", frames: [], state: newRoomState() };
      this.rooms.set(name, r);
    }
    return r;
  }

  gone(s: FakeSocket): void {
    this.subs.delete(s);
  }

  /** emit appends a frame to room and sends it to subscribers. */
  emit(name: string, delta: Delta): number {
    const r = this.room(name);
    const seq = r.frames.length + 1;
    r.frames.push({ seq, delta });
    applyDelta(r.state, delta);
    if (this.dropFrames.has(seq)) return seq;
    for (const [s, rooms] of this.subs) {
      if (rooms.has(name)) s.deliver({ type: "frame", room: name, epoch: r.epoch, seq, ts: Date.now(), delta });
    }
    return seq;
  }

  /** resetEpoch rebuilds a room's history under a new epoch with the given state. */
  resetEpoch(name: string, epoch: string, state: RoomState): void {
    this.rooms.set(name, { epoch, frames: [], state });
  }

  receive(s: FakeSocket, m: Record<string, unknown>): void {
    switch (m.op) {
      case "subscribe": {
        const name = m.room as string;
        if (this.refuseSubscribes > 0) {
          this.refuseSubscribes--;
          s.deliver({ type: "error", id: m.id, room: name, code: "unavailable", message: "not ready", retry_after: 0.01 });
          return;
        }
        const r = this.room(name);
        this.subs.get(s)?.add(name);
        const seq = m.seq as number | undefined;
        const head = r.frames.length;
        if (m.epoch === r.epoch && seq !== undefined && seq <= head && head - seq <= this.resumeWindow) {
          s.deliver({ type: "subscribed", id: m.id, room: name, epoch: r.epoch, seq, recovered: true });
          for (const f of r.frames.slice(seq)) s.deliver({ type: "frame", room: name, epoch: r.epoch, seq: f.seq, ts: 1, delta: f.delta });
        } else {
          s.deliver({ type: "subscribed", id: m.id, room: name, epoch: r.epoch, seq: head, recovered: false });
          s.deliver({ type: "snapshot", room: name, epoch: r.epoch, seq: head, ts: 1, state: JSON.parse(JSON.stringify(r.state)) });
        }
        return;
      }
      case "publish": {
        this.publishes++;
        const ev = m.event as { id: string; type: string; data: Record<string, unknown> };
        if (this.refusePublish && !this.refused.has(ev.id)) {
          this.refused.add(ev.id);
          s.deliver({ type: "error", id: m.id, code: this.refusePublish.code, message: "no", retry_after: this.refusePublish.retry_after });
          return;
        }
        if (!this.seen.has(ev.id)) {
          this.seen.add(ev.id);
          const room = m.room as string;
          if (ev.type === "reaction") {
            this.emit(room, { reactions: { [ev.data.emoji as string]: 1 }, totals: { reactions: 1 } });
          } else if (ev.type === "chat.message") {
            this.emit(room, { chat: [{ id: ev.id, user: "u", text: ev.data.text as string, ts: 1 }], totals: { chat: 1 } });
          }
        }
        if (this.ackPublishes) s.deliver({ type: "ack", id: m.id, event_id: ev.id });
        return;
      }
      case "ping":
        s.deliver({ type: "pong", id: m.id, ts: Date.now() });
        return;
      case "refresh": {
        const token = m.token as string;
        this.refreshTokens.push(token);
        if (!this.answerRefresh) return;
        const code = this.refuseRefresh.shift();
        if (code) {
          s.deliver({ type: "error", id: m.id, code, field: "token", message: "refused" });
          return;
        }
        const exp = token.startsWith("exp:") ? Number(token.slice(4)) : 4_000_000_000;
        s.deliver({ type: "refreshed", id: m.id, exp });
        return;
      }
    }
  }
}
