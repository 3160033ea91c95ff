// OvationClient owns one WebSocket to GET /v1/stream and everything that
// must survive its loss: the rooms (state and resume position), and the
// events published but not yet acknowledged (the offline queue).
//
// Integrity rules, in one place:
//   * a room's frames are applied in seq order with no gap and no repeat
//     (RoomStream); a gap or an epoch change resubscribes from the last good
//     position and the server answers with the missed frames or a snapshot;
//   * a published event keeps its id across every retry, so the processors'
//     dedup counts it once; it leaves the queue only when acked or refused;
//   * reconnects back off exponentially with jitter and resume every room.

import { Backoff } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { ClosedError, PublishError, QueueFullError } from "./errors.js";
import { checkID, checkRoom, checkStream, MOD_VIEW_SUFFIX, validateBody } from "./events.js";
import type { Controls, PublishInput } from "./events.js";
import { CLOSE, decodeServer, encodeClient, RETRYABLE_CODES } from "./protocol.js";
import type { ClientMsg, ServerFrame, ServerMsg, ServerWelcome } from "./protocol.js";
import { RoomStream } from "./room.js";
import type { FrameResult, Position } from "./room.js";
import { SSESocket } from "./sse.js";
import type { EventSourceFactory } from "./sse.js";
import { normalizeDelta } from "./state.js";
import type { ChatLine, HeldItem, RoomState, Sanction } from "./state.js";

/** WebSocketLike is the part of the browser WebSocket the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** WebSocketFactory opens a socket; the default is the global WebSocket. */
export type WebSocketFactory = (url: string) => WebSocketLike;

/** ClientOptions configure an OvationClient; every field but url has a default. */
export interface ClientOptions {
  /** url of the stream endpoint, e.g. "wss://example.org/v1/stream". */
  url: string;
  /**
   * fallbackURLs are the stream endpoints of the regions that take the
   * rooms over when url's region is lost (docs/operations.md, "Regional
   * failover"), in order. The application hands them out with the token.
   * After failoverAfter connection attempts in a row that end before the
   * server's welcome, the client moves to the next URL (after the last,
   * back to url) and resumes every room there; the new region answers
   * with a snapshot in its own epoch. Publishing follows the current URL.
   */
  fallbackURLs?: string[];
  /** failoverAfter is how many failed connects in a row move to the next URL; default 3. */
  failoverAfter?: number;
  /**
   * token is a JWT, or a function returning a fresh one (getToken). A
   * function is called at each connect and whenever the server says the
   * current token is about to expire (the refresh hint): the client then
   * sends the new token on the open socket, so it is never closed with
   * 4002. With a static token, listen to "tokenExpiring" and call
   * refreshToken(newToken) yourself, or let the socket close and
   * reconnect.
   */
  token?: string | (() => string | Promise<string>);
  /** user names the viewer when the server runs with auth off (dev mode). */
  user?: string;
  /** webSocket opens sockets (tests, Node); default: globalThis.WebSocket. */
  webSocket?: WebSocketFactory;
  /** backoff shapes reconnect delays; default 250 ms doubling to 10 s. */
  backoff?: BackoffOptions;
  /** maxQueuedEvents bounds the unacknowledged events; default 1000. */
  maxQueuedEvents?: number;
  /** maxQueuedBytes bounds their encoded size; default 512 KiB. */
  maxQueuedBytes?: number;
  /** ackTimeoutMs is how long to wait for an ack before sending again (same id); default 10 s. */
  ackTimeoutMs?: number;
  /** pingIntervalMs is how often to ping an idle connection; default 15 s. */
  pingIntervalMs?: number;
  /** idleTimeoutMs closes a connection that said nothing for this long; default 40 s. */
  idleTimeoutMs?: number;
  /** resyncTimeoutMs resubscribes again if a resync got no answer; default 5 s. */
  resyncTimeoutMs?: number;
  /** maxSendRate bounds messages per second to the server (its inbound limit is 50/s); default 40. */
  maxSendRate?: number;
  /**
   * publishURL is the HTTP publish endpoint used when the pusher has no
   * publish path (error publish_unavailable); "{room}" is replaced. Default:
   * derived from url, i.e. http(s)://host/v1/rooms/{room}/events.
   */
  publishURL?: string;
  /** fetch is used for HTTP publishing (tests); default globalThis.fetch. */
  fetch?: typeof fetch;
  /** random is the jitter source (tests); default Math.random. */
  random?: () => number;
  /**
   * sse chooses the transport (docs/protocol.md §13): "auto" (default)
   * moves to server-sent events (GET /v1/sse) after sseAfter WebSocket
   * connects in a row fail (a proxy that refuses upgrades), publishes over
   * HTTP meanwhile, and returns to the WebSocket as soon as a probe socket
   * gets the server's welcome (probes start upgradeProbeMs after the
   * move and double up to 60 s); false: WebSocket only; true: SSE only.
   * "auto" needs EventSource (browsers) or the eventSource option.
   */
  sse?: boolean | "auto";
  /** sseAfter is how many failed WebSocket connects in a row move to SSE; default 2. */
  sseAfter?: number;
  /** upgradeProbeMs is the first wait before trying the WebSocket again while on SSE; default 2 s. */
  upgradeProbeMs?: number;
  /** eventSource opens event streams (tests, Node); default: globalThis.EventSource. */
  eventSource?: EventSourceFactory;
}

/** Status is the connection's state. */
export type Status = "connecting" | "open" | "reconnecting" | "closed";

/** PublishAck is what publish resolves with. */
export interface PublishAck {
  id: string;
  room: string;
  /** attempts is how many times the event was sent before its ack. */
  attempts: number;
}

/** ClientEvents are what an OvationClient emits. */
export type ClientEvents = {
  status: [status: Status];
  /** error: a server error not tied to one publish, or a socket problem. */
  error: [err: Error];
  /** queue: the number of unacknowledged events changed. */
  queue: [pending: number];
  /** transport: the client moved to "sse" (WebSocket refused) or back to "ws". */
  transport: [transport: "ws" | "sse"];
  /** welcome: the server's first message on each connection. */
  welcome: [welcome: ServerWelcome];
  /** region: the client moved to another stream URL (fallbackURLs). */
  region: [url: string];
  /**
   * tokenExpiring: the server's refresh hint. exp is the token's exp (Unix
   * s), closeAt when the server closes with 4002 (Unix ms) unless a newer
   * token is sent. A token function is called for one automatically.
   */
  tokenExpiring: [exp: number, closeAt: number];
  /** tokenRefreshed: a new token is in force on the open socket; exp is its exp (Unix s; 0 with auth off). */
  tokenRefreshed: [exp: number];
  [k: string]: unknown[];
};

/** RoomChange says why a room's state changed. */
export type RoomChange =
  | { kind: "snapshot"; recovered: boolean }
  | { kind: "frame"; frame: ServerFrame };

/** RoomEvents are what a Room emits. */
export type RoomEvents = {
  /** state: the state changed (a snapshot or an applied frame). */
  state: [state: RoomState, change: RoomChange];
  /** chat: lines that an applied frame appended, in room order (each line once). */
  chat: [lines: ChatLine[]];
  /** resync: a gap or an epoch change was seen; the room resubscribes from its position. */
  resync: [reason: "gap" | "epoch", at: Position | null];
  /**
   * error: the server refused the subscription, or ended it (code
   * "forbidden" after a token refresh that no longer grants the room; the
   * room is then unsubscribed for good).
   */
  error: [err: PublishError];
  [k: string]: unknown[];
};

/** Room is one subscribed room: its live state and a way to publish into it. */
export class Room extends Emitter<RoomEvents> {
  readonly name: string;
  /** stream holds the state and the integrity counters (duplicates, gaps, resets). */
  readonly stream: RoomStream;
  private readonly client: OvationClient;

  constructor(client: OvationClient, name: string) {
    super();
    this.client = client;
    this.name = name;
    this.stream = new RoomStream(name);
  }

  /** state is the current room state; treat it as read-only. */
  get state(): RoomState {
    return this.stream.state;
  }

  /** position is the last applied (epoch, seq), or null before the first snapshot. */
  get position(): Position | null {
    return this.stream.position();
  }

  /** publish sends an event into this room; see OvationClient.publish. */
  publish(input: PublishInput): Promise<PublishAck> {
    return this.client.publish(this.name, input);
  }

  /** ban bans user from the room until unban (needs moderate); hide also removes what they wrote. */
  ban(user: string, opts: { reason?: string; hide?: boolean } = {}): Promise<PublishAck> {
    return this.publish({ type: "mod.ban", data: { target: user, ...opts } });
  }

  /** timeout bans user from the room for seconds (1 to 604800). */
  timeout(user: string, seconds: number, opts: { reason?: string; hide?: boolean } = {}): Promise<PublishAck> {
    return this.publish({ type: "mod.timeout", data: { target: user, seconds, ...opts } });
  }

  /** pin pins the chat line messageID above the chat (needs moderate). */
  pin(messageID: string): Promise<PublishAck> {
    return this.publish({ type: "chat.pin", data: { message_id: messageID } });
  }

  /** setFilter replaces the room's word filter and patterns (private to the processors); none turn it off. */
  setFilter(words: string[], action: "refuse" | "mask" | "hold", patterns?: string[]): Promise<PublishAck> {
    return this.publish({ type: "mod.filters", data: patterns?.length ? { words, patterns, action } : { words, action } });
  }

  /**
   * approve puts the held chat line or question key (a key of the
   * moderator view's state.held) into the room, at this point of its log.
   * On a moderator view's handle it publishes into the view's room.
   */
  approve(key: string): Promise<PublishAck> {
    return this.client.publish(this.baseRoom, { type: "mod.approve", data: { id: key } });
  }

  /** reject drops the held chat line or question key: it never enters the room. */
  reject(key: string): Promise<PublishAck> {
    return this.client.publish(this.baseRoom, { type: "mod.reject", data: { id: key } });
  }

  /** baseRoom is the room this handle shows: its name, or the room of a moderator view. */
  get baseRoom(): string {
    return this.name.endsWith(MOD_VIEW_SUFFIX) ? this.name.slice(0, -MOD_VIEW_SUFFIX.length) : this.name;
  }

  /**
   * held lists the pending queue of a moderator view (a Room from
   * client.room(modView(room))), oldest first; [] for a room.
   */
  held(): [string, HeldItem][] {
    return Object.entries(this.state.held ?? {}).sort((a, b) => a[1].ts - b[1].ts || (a[0] < b[0] ? -1 : 1));
  }

  /** unpin takes the pinned chat line down. */
  unpin(): Promise<PublishAck> {
    return this.publish({ type: "chat.unpin", data: {} });
  }

  /** unban lifts user's ban or timeout. */
  unban(user: string): Promise<PublishAck> {
    return this.publish({ type: "mod.unban", data: { target: user } });
  }

  /** setControls sets every live control of the room at once; a control left out is off. */
  setControls(controls: Controls): Promise<PublishAck> {
    return this.publish({ type: "room.controls", data: controls });
  }

  /**
   * sanction returns user's ban or running timeout in the room (from the
   * state every client has), or null.
   */
  sanction(user: string, now = Date.now()): Sanction | null {
    const s = this.state.mod?.sanctions?.[user];
    if (!s || !Object.prototype.hasOwnProperty.call(this.state.mod!.sanctions!, user)) return null;
    return s.until !== undefined && s.until <= now ? null : s;
  }

  /** unsubscribe stops the room's updates. */
  unsubscribe(): void {
    this.client.unsubscribe(this.name);
  }

  /** @internal */
  _emit<K extends keyof RoomEvents>(event: K, ...args: RoomEvents[K]): void {
    this.emit(event, ...args);
  }
}

interface Outgoing {
  id: string;
  room: string;
  event: PublishInput & { id: string };
  wire: string;
  bytes: number;
  attempts: number;
  /** sentOn is the connection generation it was last sent on; 0 when it must be sent again. */
  sentOn: number;
  /** inFlight is true while an HTTP publish of it is running. */
  inFlight: boolean;
  timer: ReturnType<typeof setTimeout> | null;
  resolve: (a: PublishAck) => void;
  reject: (e: Error) => void;
}

const OPEN = 1;

/** EventSourceLikeCtor is what new EventSource(url) returns, as the SDK uses it. */
type EventSourceLikeCtor = import("./sse.js").EventSourceLike;

/** newEventId returns a random idempotency key valid under schemas.CheckID. */
export function newEventId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

type Opts = Required<Omit<ClientOptions, "token" | "user" | "backoff" | "webSocket" | "publishURL" | "fetch" | "fallbackURLs" | "eventSource">> &
  Pick<ClientOptions, "token" | "user" | "publishURL" | "fetch">;

/**
 * DEFAULT_DEPLOYMENT_ROOM is the deployment room's default id: its bans,
 * timeouts and word filter apply in every room (docs/moderation.md,
 * "Deployment-wide bans and filters").
 */
export const DEFAULT_DEPLOYMENT_ROOM = "ovation.deployment";

/**
 * OvationClient is one connection to an Ovation pusher. Create it, call
 * room(name) for each room to watch, and publish; it connects at once and
 * keeps reconnecting until close().
 *
 * Everything runs on the caller's event loop: no locks, and every timer is
 * owned here and cleared by close().
 */
export class OvationClient extends Emitter<ClientEvents> {
  private readonly opts: Opts;
  private readonly factory: WebSocketFactory;
  private readonly backoff: Backoff;
  private readonly rooms = new Map<string, Room>();
  /** pendingSub maps a room to the id of its latest subscribe; older replies are stale. */
  private readonly pendingSub = new Map<string, string>();
  private readonly outbox = new Map<string, Outgoing>();
  private queuedBytes = 0;
  private ws: WebSocketLike | null = null;
  private generation = 0;
  private reqSeq = 0;
  private st: Status = "connecting";
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private readonly roomTimers = new Map<string, ReturnType<typeof setTimeout>>();
  // Send pacing: a token bucket refilled at maxSendRate, so a reconnect
  // that resends a long queue does not trip the server's inbound limit.
  private tokens: number;
  private tokensAt = Date.now();
  private readonly sendQueue: string[] = [];
  private pacer: ReturnType<typeof setTimeout> | null = null;
  private lastHeard = 0;
  private closed = false;
  private viaHTTP = false;
  private fatal: string | null = null;
  /** refreshes are the refresh ops awaiting the server's answer, by request id. */
  private readonly refreshes = new Map<string, { resolve: (exp: number) => void; reject: (e: Error) => void }>();
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly onOnline = (): void => this.reconnectNow();
  private readonly onOffline = (): void => this.dropSocket("browser went offline");
  /** connects counts successful connections (the first one included). */
  connects = 0;
  /** welcome is the server's last welcome message. */
  welcome: ServerWelcome | null = null;
  // Region failover: the URLs in order, the current one, and the connect
  // attempts in a row that ended before a welcome.
  private readonly urls: string[];
  private urlIndex = 0;
  private failedConnects = 0;
  private welcomedGen = 0;
  // Transport: WebSocket, or SSE after sseAfter failed WebSocket connects
  // in a row; while on SSE a probe socket tries the WebSocket again.
  private readonly esFactory: EventSourceFactory | null;
  private transportNow: "ws" | "sse" = "ws";
  private wsFailures = 0;
  private probeDelay = 0;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private probe: WebSocketLike | null = null;

  constructor(options: ClientOptions) {
    super();
    this.opts = {
      url: options.url,
      token: options.token,
      user: options.user,
      maxQueuedEvents: options.maxQueuedEvents ?? 1000,
      maxQueuedBytes: options.maxQueuedBytes ?? 512 << 10,
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
      pingIntervalMs: options.pingIntervalMs ?? 15_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 40_000,
      resyncTimeoutMs: options.resyncTimeoutMs ?? 5_000,
      maxSendRate: options.maxSendRate ?? 40,
      publishURL: options.publishURL,
      fetch: options.fetch,
      random: options.random ?? Math.random,
      failoverAfter: Math.max(1, options.failoverAfter ?? 3),
      sse: options.sse ?? "auto",
      sseAfter: Math.max(1, options.sseAfter ?? 2),
      upgradeProbeMs: options.upgradeProbeMs ?? 2000,
    };
    const ES = (globalThis as unknown as { EventSource?: new (u: string) => EventSourceLikeCtor }).EventSource;
    this.esFactory = options.eventSource ?? (ES ? (url) => new ES(url) : null);
    if (this.opts.sse === true && this.esFactory) this.transportNow = "sse";
    this.urls = [options.url, ...(options.fallbackURLs ?? [])];
    this.tokens = this.opts.maxSendRate;
    this.factory = options.webSocket ?? ((url) => new (globalThis as unknown as { WebSocket: new (u: string) => WebSocketLike }).WebSocket(url));
    this.backoff = new Backoff(options.backoff, this.opts.random);
    const g = globalThis as { addEventListener?: (t: string, fn: () => void) => void };
    if (typeof g.addEventListener === "function") {
      g.addEventListener("online", this.onOnline);
      g.addEventListener("offline", this.onOffline);
    }
    void this.connect();
  }

  /** url is the stream URL in use: url, or one of fallbackURLs after a region move. */
  get url(): string {
    return this.urls[this.urlIndex];
  }

  /** transport is the transport in use: "ws" or "sse" (the fallback). */
  get transport(): "ws" | "sse" {
    return this.transportNow;
  }

  /** status is the connection's state. */
  get status(): Status {
    return this.st;
  }

  /** pending is the number of published events not yet acknowledged. */
  get pending(): number {
    return this.outbox.size;
  }

  /**
   * deployment subscribes to the deployment room (the server's
   * --deployment-room, default DEFAULT_DEPLOYMENT_ROOM) and returns its
   * handle. ban, timeout and unban on it apply in every room of the
   * deployment (they need moderate in the deployment room), its
   * setFilter sets the deployment-wide word filter, and its
   * sanction(user) and state.mod.sanctions tell who is sanctioned
   * everywhere. A user it sanctions is refused "banned" in every room
   * and loses every subscription with code banned.
   */
  deployment(name: string = DEFAULT_DEPLOYMENT_ROOM): Room {
    return this.room(name);
  }

  /** room subscribes to name (once) and returns its handle. */
  room(name: string): Room {
    checkStream(name);
    let r = this.rooms.get(name);
    if (!r) {
      r = new Room(this, name);
      this.rooms.set(name, r);
      this.subscribe(r);
    }
    return r;
  }

  /** unsubscribe stops a room and forgets its state. */
  unsubscribe(name: string): void {
    if (this.rooms.delete(name)) {
      this.clearRoomTimer(name);
      this.pendingSub.delete(name);
      this.send({ op: "unsubscribe", room: name });
    }
  }

  /**
   * publish sends an event into room and resolves once the server says
   * Kafka has it. The event keeps one id (input.id, or a new one) through
   * every resend: after a dropped socket, an ack timeout or a retryable
   * refusal it is sent again and still counted once. While offline it
   * waits in a bounded queue; a full queue rejects with QueueFullError, a
   * final refusal with PublishError, a local validation failure with
   * EventValidationError.
   */
  publish(room: string, input: PublishInput): Promise<PublishAck> {
    try {
      checkRoom(room);
      if (input.id !== undefined) checkID(input.id);
      validateBody(input);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closed) return Promise.reject(new ClosedError());
    const id = input.id ?? newEventId();
    const existing = this.outbox.get(id);
    if (existing) {
      // The same id again is the app retrying: wait for the first one.
      return new Promise((resolve, reject) => {
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (a) => (r0(a), resolve(a));
        existing.reject = (e) => (j0(e), reject(e));
      });
    }
    const event = { ...input, id } as PublishInput & { id: string };
    const wire = encodeClient({ op: "publish", id, room, event });
    const bytes = new TextEncoder().encode(wire).length;
    if (this.outbox.size >= this.opts.maxQueuedEvents || this.queuedBytes + bytes > this.opts.maxQueuedBytes) {
      return Promise.reject(new QueueFullError(this.outbox.size, this.queuedBytes));
    }
    return new Promise<PublishAck>((resolve, reject) => {
      const o: Outgoing = { id, room, event, wire, bytes, attempts: 0, sentOn: 0, inFlight: false, timer: null, resolve, reject };
      this.outbox.set(id, o);
      this.queuedBytes += bytes;
      this.emit("queue", this.outbox.size);
      this.transmit(o);
    });
  }

  /** close stops reconnecting, closes the socket and rejects what is still queued. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const g = globalThis as { removeEventListener?: (t: string, fn: () => void) => void };
    if (typeof g.removeEventListener === "function") {
      g.removeEventListener("online", this.onOnline);
      g.removeEventListener("offline", this.onOffline);
    }
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pacer) clearTimeout(this.pacer);
    this.failRefreshes(new ClosedError());
    this.sendQueue.length = 0;
    this.stopPing();
    this.stopProbe();
    for (const name of [...this.roomTimers.keys()]) this.clearRoomTimer(name);
    for (const o of this.outbox.values()) {
      if (o.timer) clearTimeout(o.timer);
      o.reject(new ClosedError());
    }
    this.outbox.clear();
    this.queuedBytes = 0;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(CLOSE.normal, "client closed");
    }
    this.setStatus("closed");
  }

  /**
   * reconnectNow skips any pending backoff and connects at once (the
   * browser came back online, or the app knows better).
   */
  reconnectNow(): void {
    if (this.closed || this.fatal || this.ws) return;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    this.backoff.reset();
    void this.connect();
  }

  /**
   * dropSocket closes the current socket as if the network had dropped it
   * (the browser went offline, or a test wants a reconnect); the client
   * reconnects with backoff and resumes every room.
   */
  dropSocket(reason = "dropped by the client"): void {
    const ws = this.ws;
    if (!ws) return;
    this.generation++; // ignore anything the old socket still says
    ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    try {
      ws.close(CLOSE.normal, reason);
    } catch {
      // already closing
    }
    this.onSocketGone(CLOSE.abnormal, reason);
  }

  /**
   * refreshToken sends a newer token for the same user on the open socket
   * (docs/protocol.md §3.5) and resolves with its exp once the server has
   * it in force. Without an argument it asks the token function. A given
   * token also replaces a static token for later reconnects. Rejects with
   * PublishError (code invalid_token, token_expired, token_wrong_user,
   * token_not_newer) when the server refuses it — the old token then
   * stays in force — or with an Error when there is no open socket.
   */
  async refreshToken(token?: string): Promise<number> {
    if (this.closed) throw new ClosedError();
    if (token !== undefined && typeof this.opts.token !== "function") this.opts.token = token;
    const t = token ?? (await this.token());
    if (!t) throw new Error("refreshToken: no token to send (give one, or construct the client with a token function)");
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) throw new Error("refreshToken: not connected; the next connect uses the new token");
    const id = `t${++this.reqSeq}`;
    return new Promise<number>((resolve, reject) => {
      this.refreshes.set(id, { resolve, reject });
      this.send({ op: "refresh", id, token: t });
    });
  }

  /**
   * onRefreshHint refreshes through the token function, retrying (at most
   * every second) while the deadline is ahead; a static token only gets
   * the tokenExpiring event.
   */
  private onRefreshHint(exp: number, closeAt: number, gen: number): void {
    if (typeof this.opts.token !== "function" || gen !== this.generation || this.closed) return;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.refreshToken().then(
      (newExp) => this.emit("tokenRefreshed", newExp),
      (err: Error) => {
        if (gen !== this.generation || this.closed) return;
        this.emit("error", new Error(`token refresh failed: ${err.message}`));
        const left = closeAt - Date.now();
        if (left > 1500) {
          this.refreshTimer = setTimeout(() => {
            this.refreshTimer = null;
            this.onRefreshHint(exp, closeAt, gen);
          }, Math.max(1000, Math.min(5000, left / 4)));
        }
      },
    );
  }

  private failRefreshes(err: Error): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    const pending = [...this.refreshes.values()];
    this.refreshes.clear();
    for (const p of pending) p.reject(err);
  }

  private setStatus(s: Status): void {
    if (this.st !== s) {
      this.st = s;
      this.emit("status", s);
    }
  }

  private async token(): Promise<string | undefined> {
    return typeof this.opts.token === "function" ? await this.opts.token() : this.opts.token;
  }

  private baseHref(): string | undefined {
    return (globalThis as { location?: { href: string } }).location?.href;
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = null;
    if (this.closed || this.ws) return;
    this.setStatus(this.connects === 0 ? "connecting" : "reconnecting");
    let ws: WebSocketLike;
    try {
      const u = new URL(this.url, this.baseHref());
      const t = await this.token();
      if (t) u.searchParams.set("token", t);
      if (this.opts.user) u.searchParams.set("user", this.opts.user);
      if (this.closed || this.ws) return;
      ws = this.transportNow === "sse" && this.esFactory ? new SSESocket(u.toString(), this.esFactory) : this.factory(u.toString());
    } catch (err) {
      this.emit("error", err as Error);
      this.connectFailed();
      this.scheduleReconnect();
      return;
    }
    const gen = ++this.generation;
    this.ws = ws;
    const via = this.transportNow;
    const openedAt = Date.now();
    ws.onopen = () => {
      if (gen !== this.generation) return;
      this.connects++;
      this.lastHeard = Date.now();
      this.setStatus("open");
      this.startPing();
      // Resume every room from its last good position, then resend every
      // unacknowledged event in the order it was published.
      for (const r of this.rooms.values()) this.subscribe(r);
      for (const o of this.outbox.values()) this.transmit(o);
    };
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      this.lastHeard = Date.now();
      let m: ServerMsg | null;
      try {
        m = decodeServer(String(ev.data));
      } catch (err) {
        this.emit("error", new Error(`undecodable message from the server: ${(err as Error).message}`));
        return;
      }
      if (m) this.handle(m);
    };
    ws.onerror = () => {
      // onclose follows and does the work.
    };
    ws.onclose = (ev) => {
      if (gen !== this.generation) return;
      if (this.welcomedGen !== gen) this.connectFailed();
      this.transportEnded(via, this.welcomedGen === gen, Date.now() - openedAt);
      this.onSocketGone(ev.code, ev.reason);
    };
  }

  private onSocketGone(code: number, reason: string): void {
    this.ws = null;
    this.stopPing();
    this.failRefreshes(new Error(`connection lost before the refresh was answered (${code})`));
    this.sendQueue.length = 0;
    for (const o of this.outbox.values()) {
      if (!this.viaHTTP) {
        if (o.timer) clearTimeout(o.timer);
        o.timer = null;
      }
      o.sentOn = 0;
    }
    if (this.closed) return;
    let delay: number | null = null;
    switch (code) {
      case CLOSE.unauthorized:
      case CLOSE.tokenExpired:
      case CLOSE.forbiddenOrigin:
        // Retrying with the same credentials cannot work. A token function
        // may return a fresh token, so only a static one is fatal.
        if (code === CLOSE.forbiddenOrigin || typeof this.opts.token !== "function") {
          this.fatal = `stream closed (${code}: ${reason})`;
          this.emit("error", new Error(this.fatal));
          this.setStatus("closed");
          return;
        }
        break;
      case CLOSE.reconnect:
      case CLOSE.tooSlow:
        // The server asks for an immediate reconnect; a little jitter
        // spreads a draining pusher's clients.
        delay = Math.round(this.opts.random() * 500);
        break;
      case CLOSE.rateLimited:
        delay = Math.max(1000, this.backoff.next());
        break;
    }
    if (code !== CLOSE.normal && code !== CLOSE.reconnect) {
      this.emit("error", new Error(`stream closed (${code}${reason ? ": " + reason : ""}); reconnecting`));
    }
    this.setStatus("reconnecting");
    this.scheduleReconnect(delay);
  }

  /**
   * connectFailed counts a connect that ended before a welcome; enough in
   * a row move the client to the next region's URL, at once.
   */
  private connectFailed(): void {
    if (this.urls.length < 2 || ++this.failedConnects < this.opts.failoverAfter) return;
    this.failedConnects = 0;
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.backoff.reset();
    this.emit("region", this.url);
  }

  private scheduleReconnect(delay: number | null = null): void {
    if (this.closed || this.fatal || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => void this.connect(), delay ?? this.backoff.next());
  }

  private startPing(): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > this.opts.idleTimeoutMs) {
        this.dropSocket("no message from the server within the idle timeout");
        return;
      }
      this.send({ op: "ping" });
    }, this.opts.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private send(m: ClientMsg | string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    this.sendQueue.push(typeof m === "string" ? m : encodeClient(m));
    this.flush();
    return true;
  }

  private flush(): void {
    if (this.pacer) return;
    const now = Date.now();
    this.tokens = Math.min(this.opts.maxSendRate * 2, this.tokens + ((now - this.tokensAt) / 1000) * this.opts.maxSendRate);
    this.tokensAt = now;
    while (this.sendQueue.length > 0 && this.tokens >= 1) {
      const ws = this.ws;
      if (!ws || ws.readyState !== OPEN) {
        this.sendQueue.length = 0;
        return;
      }
      try {
        ws.send(this.sendQueue.shift()!);
      } catch {
        // The socket is closing; onclose resends what matters.
      }
      this.tokens--;
    }
    if (this.sendQueue.length > 0) {
      this.pacer = setTimeout(() => {
        this.pacer = null;
        this.flush();
      }, Math.ceil(1000 / this.opts.maxSendRate));
    }
  }

  private subscribe(r: Room): void {
    if (!this.ws || this.ws.readyState !== OPEN) return;
    const id = `s${++this.reqSeq}`;
    this.pendingSub.set(r.name, id);
    r.stream.subscribing();
    const pos = r.stream.position();
    // A reply that never comes (lost with the socket, or a server bug)
    // must not leave the room frozen. Armed before sending: the reply may
    // be handled before send() returns, and must be able to replace it.
    this.clearRoomTimer(r.name);
    this.roomTimers.set(r.name, setTimeout(() => {
      this.roomTimers.delete(r.name);
      if (this.rooms.get(r.name) === r && !r.stream.synced) this.subscribe(r);
    }, this.opts.resyncTimeoutMs));
    this.send(pos ? { op: "subscribe", id, room: r.name, epoch: pos.epoch, seq: pos.seq } : { op: "subscribe", id, room: r.name });
  }

  private transmit(o: Outgoing): void {
    if (this.viaHTTP) {
      void this.transmitHTTP(o);
      return;
    }
    if (o.sentOn === this.generation && o.timer) return;
    if (!this.ws || this.ws.readyState !== OPEN) return;
    // Bookkeeping first: the ack may arrive before send() returns.
    o.attempts++;
    o.sentOn = this.generation;
    if (o.timer) clearTimeout(o.timer);
    o.timer = setTimeout(() => {
      o.timer = null;
      o.sentOn = 0;
      if (this.outbox.get(o.id) === o) this.transmit(o);
    }, this.opts.ackTimeoutMs);
    this.send(o.wire);
  }

  private publishURL(room: string): string {
    if (this.opts.publishURL) return this.opts.publishURL.replace("{room}", encodeURIComponent(room));
    const u = new URL(this.url, this.baseHref());
    u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    u.pathname = `/v1/rooms/${encodeURIComponent(room)}/events`;
    u.search = "";
    if (this.opts.user) u.searchParams.set("user", this.opts.user);
    return u.toString();
  }

  // transmitHTTP publishes o over POST /v1/rooms/{room}/events, for
  // pushers without a publish path; same id, same retry rules.
  private async transmitHTTP(o: Outgoing): Promise<void> {
    if (o.inFlight || o.timer) return;
    const f = this.opts.fetch ?? globalThis.fetch;
    o.inFlight = true;
    o.attempts++;
    let retryIn: number | null = null;
    try {
      const headers: Record<string, string> = { "content-type": "application/json" };
      const t = await this.token();
      if (t) headers.authorization = `Bearer ${t}`;
      const res = await f(this.publishURL(o.room), { method: "POST", headers, body: JSON.stringify(o.event) });
      const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string; field?: string; retry_after?: number; until?: number }; results?: { error?: { code: string; message: string; field?: string; retry_after?: number; until?: number } }[] };
      const e = body.error ?? body.results?.[0]?.error;
      if (res.ok && !e) {
        this.settle(o.id)?.resolve({ id: o.id, room: o.room, attempts: o.attempts });
      } else if (e && !RETRYABLE_CODES.has(e.code) && res.status < 500) {
        this.settle(o.id)?.reject(new PublishError(e.code, e.message, e.field, e.retry_after, e.until));
      } else {
        retryIn = e?.retry_after ? e.retry_after * 1000 : this.backoff.next();
      }
    } catch {
      retryIn = this.backoff.next();
    } finally {
      o.inFlight = false;
    }
    if (retryIn !== null && this.outbox.get(o.id) === o && !this.closed) {
      o.timer = setTimeout(() => {
        o.timer = null;
        void this.transmitHTTP(o);
      }, retryIn);
    }
  }

  private settle(id: string): Outgoing | undefined {
    const o = this.outbox.get(id);
    if (!o) return undefined;
    if (o.timer) clearTimeout(o.timer);
    this.outbox.delete(id);
    this.queuedBytes -= o.bytes;
    this.emit("queue", this.outbox.size);
    return o;
  }

  private handle(m: ServerMsg): void {
    switch (m.type) {
      case "welcome":
        // Only a healthy, authorized connection gets this far, so the next
        // drop starts the backoff from its beginning.
        this.backoff.reset();
        this.failedConnects = 0;
        this.welcomedGen = this.generation;
        this.welcome = m;
        if (this.transportNow === "sse" && this.opts.sse === "auto") this.scheduleProbe();
        this.emit("welcome", m);
        return;
      case "subscribed": {
        const r = this.rooms.get(m.room);
        if (!r || (m.id !== undefined && this.pendingSub.get(m.room) !== m.id)) return;
        this.pendingSub.delete(m.room);
        r.stream.subscribed(m.recovered);
        if (r.stream.synced) this.clearRoomTimer(r.name);
        return;
      }
      case "snapshot": {
        const r = this.rooms.get(m.room);
        if (!r) return;
        this.clearRoomTimer(r.name);
        r.stream.snapshot(m);
        r._emit("state", r.state, { kind: "snapshot", recovered: false });
        return;
      }
      case "frame": {
        const r = this.rooms.get(m.room);
        if (!r) return;
        try {
          normalizeDelta(m.delta);
        } catch (err) {
          // A frame no correct server sends: do not guess, start over.
          this.emit("error", err as Error);
          r._emit("resync", "gap", r.stream.position());
          this.subscribe(r);
          return;
        }
        const res: FrameResult = r.stream.frame(m);
        if (res === "applied") {
          r._emit("state", r.state, { kind: "frame", frame: m });
          if (m.delta.chat && m.delta.chat.length > 0) r._emit("chat", m.delta.chat);
        } else if (res === "gap" || res === "epoch") {
          r._emit("resync", res, r.stream.position());
          this.subscribe(r);
        }
        return;
      }
      case "ack": {
        const o = this.settle(m.event_id ?? m.id ?? "");
        o?.resolve({ id: o.id, room: o.room, attempts: o.attempts });
        return;
      }
      case "error":
        this.handleError(m);
        return;
      case "refresh":
        this.emit("tokenExpiring", m.exp, m.close_at);
        this.onRefreshHint(m.exp, m.close_at, this.generation);
        return;
      case "refreshed": {
        const p = m.id !== undefined ? this.refreshes.get(m.id) : undefined;
        if (p) {
          this.refreshes.delete(m.id!);
          p.resolve(m.exp ?? 0);
        }
        return;
      }
      case "unsubscribed": {
        // Without a code it answers our own unsubscribe. With one, the
        // server ended the subscription (a refreshed token no longer
        // grants the room): forget the room, so no reconnect asks again.
        const r = m.code ? this.rooms.get(m.room) : undefined;
        if (r) {
          this.rooms.delete(m.room);
          this.clearRoomTimer(m.room);
          this.pendingSub.delete(m.room);
          r._emit("error", new PublishError(m.code!, m.message ?? "the server ended the subscription", undefined, undefined, m.until));
        }
        return;
      }
      case "pong":
        return;
    }
  }

  private handleError(m: Extract<ServerMsg, { type: "error" }>): void {
    const err = new PublishError(m.code, m.message, m.field, m.retry_after, m.until);
    const rf = m.id !== undefined ? this.refreshes.get(m.id) : undefined;
    if (rf) {
      this.refreshes.delete(m.id!);
      rf.reject(err);
      return;
    }
    const o = m.id !== undefined ? this.outbox.get(m.id) : undefined;
    if (o) {
      if (m.code === "publish_unavailable") {
        // This pusher cannot publish: switch to HTTP for good.
        this.viaHTTP = true;
        for (const x of this.outbox.values()) {
          if (x.timer) clearTimeout(x.timer);
          x.timer = null;
          void this.transmitHTTP(x);
        }
        return;
      }
      if (RETRYABLE_CODES.has(m.code)) {
        // Not refused for good: send again (same id) after the hint.
        if (o.timer) clearTimeout(o.timer);
        const wait = m.retry_after ? m.retry_after * 1000 : 500 + this.opts.random() * 1000;
        o.timer = setTimeout(() => {
          o.timer = null;
          o.sentOn = 0;
          if (this.outbox.get(o.id) === o) this.transmit(o);
        }, wait);
        return;
      }
      this.settle(o.id)!.reject(err);
      return;
    }
    const r = m.room !== undefined ? this.rooms.get(m.room) : undefined;
    if (r && m.id !== undefined && this.pendingSub.get(r.name) === m.id) {
      this.pendingSub.delete(r.name);
      if (m.code === "unavailable") {
        // The room's state is not readable yet: ask again later.
        this.clearRoomTimer(r.name);
        this.roomTimers.set(r.name, setTimeout(() => {
          this.roomTimers.delete(r.name);
          if (this.rooms.get(r.name) === r) this.subscribe(r);
        }, (m.retry_after ?? 1) * 1000));
        return;
      }
      this.clearRoomTimer(r.name);
      r._emit("error", err);
      return;
    }
    this.emit("error", err);
  }

  /**
   * transportEnded counts WebSocket connections that failed (no welcome,
   * or dropped within 5 s of opening) while the browser is online;
   * sseAfter in a row move the client to SSE. A failed SSE connect moves it back, so a pusher that is
   * simply down is not mistaken for a proxy that refuses upgrades.
   */
  private transportEnded(via: "ws" | "sse", welcomed: boolean, lived: number): void {
    if (this.opts.sse !== "auto" || !this.esFactory || this.closed) return;
    if (via === "sse") {
      if (!welcomed) this.setTransport("ws");
      return;
    }
    if (welcomed && lived >= 5000) {
      this.wsFailures = 0;
      return;
    }
    // Offline, every transport fails: that says nothing about proxies.
    if ((globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false) return;
    if (++this.wsFailures >= this.opts.sseAfter) {
      this.wsFailures = 0;
      this.probeDelay = this.opts.upgradeProbeMs;
      this.setTransport("sse");
    }
  }

  private setTransport(t: "ws" | "sse"): void {
    if (this.transportNow === t) return;
    this.transportNow = t;
    if (t === "ws") this.stopProbe();
    this.emit("transport", t);
  }

  /** scheduleProbe tries a WebSocket after probeDelay (doubling to 60 s). */
  private scheduleProbe(): void {
    if (this.probeTimer || this.probe || this.closed) return;
    const delay = this.probeDelay || this.opts.upgradeProbeMs;
    this.probeDelay = Math.min(60_000, delay * 2);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.runProbe();
    }, delay);
  }

  private async runProbe(): Promise<void> {
    if (this.closed || this.transportNow !== "sse") return;
    let p: WebSocketLike;
    try {
      const u = new URL(this.url, this.baseHref());
      const t = await this.token();
      if (t) u.searchParams.set("token", t);
      if (this.opts.user) u.searchParams.set("user", this.opts.user);
      p = this.factory(u.toString());
    } catch {
      this.scheduleProbe();
      return;
    }
    this.probe = p;
    const done = (upgraded: boolean): void => {
      if (this.probe !== p) return;
      this.probe = null;
      p.onopen = p.onmessage = p.onclose = p.onerror = null;
      try {
        p.close(CLOSE.normal, "probe");
      } catch {
        // already closed
      }
      if (this.closed || this.transportNow !== "sse") return;
      if (!upgraded) {
        this.scheduleProbe();
        return;
      }
      // The WebSocket gets through again: move back to it, resuming
      // every room from its position.
      this.setTransport("ws");
      const ws = this.ws;
      if (ws) {
        this.generation++;
        ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
        ws.close(CLOSE.normal, "upgrading to WebSocket");
        this.onSocketGone(CLOSE.normal, "upgrading to WebSocket");
      }
    };
    p.onmessage = () => done(true); // the first message is the welcome
    p.onclose = () => done(false);
    p.onerror = () => {};
  }

  private stopProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    const p = this.probe;
    this.probe = null;
    if (p) {
      p.onopen = p.onmessage = p.onclose = p.onerror = null;
      try {
        p.close(CLOSE.normal, "probe");
      } catch {
        // already closed
      }
    }
  }

  private clearRoomTimer(name: string): void {
    const t = this.roomTimers.get(name);
    if (t) clearTimeout(t);
    this.roomTimers.delete(name);
  }
}
