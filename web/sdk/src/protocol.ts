// The messages of GET /v1/stream, as docs/protocol.md defines them. This
// file is the only place that knows their exact shape.

import type { Delta, RoomState } from "./state.js";
import type { PublishInput } from "./events.js";

/** SubscribeMsg asks for a room, resuming after (epoch, seq) when given. */
export interface SubscribeMsg {
  op: "subscribe";
  id?: string;
  room: string;
  epoch?: string;
  seq?: number;
}

/** UnsubscribeMsg stops a room. */
export interface UnsubscribeMsg {
  op: "unsubscribe";
  id?: string;
  room: string;
}

/** PublishMsg publishes one event into room; event.id is the idempotency key. */
export interface PublishMsg {
  op: "publish";
  id?: string;
  room: string;
  event: PublishInput & { id: string };
}

/** PingMsg asks for a pong, proving the connection works end to end. */
export interface PingMsg {
  op: "ping";
  id?: string;
}

/** RefreshMsg replaces the connection's token with a newer one of the same user. */
export interface RefreshMsg {
  op: "refresh";
  id?: string;
  token: string;
}

/** ClientMsg is anything the client sends. */
export type ClientMsg = SubscribeMsg | UnsubscribeMsg | PublishMsg | PingMsg | RefreshMsg;

/** ServerWelcome is the first message of every connection. */
export interface ServerWelcome {
  type: "welcome";
  node: string;
  user: string;
  ts: number;
  ping_interval: number;
  max_rooms: number;
  max_message_bytes: number;
}

/** ServerSubscribed answers a subscribe; recovered means the missed frames follow, else a snapshot. */
export interface ServerSubscribed {
  type: "subscribed";
  id?: string;
  room: string;
  epoch: string;
  seq: number;
  recovered: boolean;
}

/** ServerSnapshot replaces a room's state (after subscribed, or at any time as a reset). */
export interface ServerSnapshot {
  type: "snapshot";
  room: string;
  epoch: string;
  seq: number;
  ts: number;
  state: RoomState;
}

/** ServerFrame is one delta at seq of epoch, or a merge of from_seq…seq. */
export interface ServerFrame {
  type: "frame";
  room: string;
  epoch: string;
  seq: number;
  from_seq?: number;
  ts: number;
  delta: Delta;
}

/**
 * ServerUnsubscribed answers an unsubscribe or, with code and without id,
 * says the server ended the subscription (code "forbidden": a refreshed
 * token no longer grants the room).
 */
export interface ServerUnsubscribed {
  type: "unsubscribed";
  id?: string;
  room: string;
  code?: string;
  message?: string;
  /** until (ms) ends the timeout behind code "banned". */
  until?: number;
}

/** ServerRefreshHint says the token expires soon: the server closes with 4002 at close_at unless refreshed. */
export interface ServerRefreshHint {
  type: "refresh";
  /** exp is the current token's exp claim (Unix seconds). */
  exp: number;
  /** close_at is when the server closes the connection with 4002 (Unix ms). */
  close_at: number;
}

/** ServerRefreshed says the refreshed token is in force; exp is its exp (absent with auth off). */
export interface ServerRefreshed {
  type: "refreshed";
  id?: string;
  exp?: number;
}

/** ServerAck says the event is in Kafka. */
export interface ServerAck {
  type: "ack";
  id?: string;
  event_id: string;
}

/** ServerPong answers a ping. */
export interface ServerPong {
  type: "pong";
  id?: string;
  ts: number;
}

/** ServerError is a refusal of one request; the connection stays open. */
export interface ServerError {
  type: "error";
  id?: string;
  code: string;
  message: string;
  field?: string;
  room?: string;
  retry_after?: number;
  until?: number;
}

/** ServerMsg is anything the server sends. */
export type ServerMsg =
  | ServerWelcome | ServerSubscribed | ServerSnapshot | ServerFrame
  | ServerUnsubscribed | ServerAck | ServerPong | ServerError | ServerRefreshHint | ServerRefreshed;

const KNOWN = new Set(["welcome", "subscribed", "snapshot", "frame", "unsubscribed", "ack", "pong", "error", "refresh", "refreshed"]);

/** decodeServer parses one text message; a message of an unknown type gives null (newer servers). */
export function decodeServer(text: string): ServerMsg | null {
  const m = JSON.parse(text) as { type?: unknown };
  if (typeof m !== "object" || m === null || typeof m.type !== "string" || !KNOWN.has(m.type)) return null;
  return m as ServerMsg;
}

/** encodeClient encodes one client message. */
export function encodeClient(m: ClientMsg): string {
  return JSON.stringify(m);
}

/**
 * RETRYABLE_CODES are refusals that mean "not now" rather than "never":
 * the event is sent again later with the same id.
 */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  "rate_limited", "backpressure", "kafka_unavailable", "internal", "unavailable",
]);

/** Close codes of docs/protocol.md §7. */
export const CLOSE = {
  normal: 1000,
  abnormal: 1006,
  invalidPayload: 1007,
  tooBig: 1009,
  internal: 1011,
  unauthorized: 4001,
  tokenExpired: 4002,
  forbiddenOrigin: 4003,
  rateLimited: 4008,
  tooSlow: 4009,
  tooManySubscriptions: 4010,
  tooManyConnections: 4011,
  reconnect: 4012,
  badMessage: 4400,
} as const;
