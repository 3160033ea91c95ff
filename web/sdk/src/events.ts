// Engagement events as a client publishes them, and a client-side port of
// the validation in schemas/validate.go. Validating in the browser is a
// courtesy (a bad event fails at once with the same field and rule ingest
// would name); ingest validates again and is the authority.

/** SCHEMA_VERSION is the event schema version (schemas.Version). */
export const SCHEMA_VERSION = 1;

/** Limits of the v1 schema (schemas/event.go). */
export const LIMITS = {
  maxEventBytes: 16 << 10,
  maxIDLen: 64,
  maxRoomLen: 64,
  maxUserLen: 128,
  maxNameLen: 64,
  maxChatLen: 500,
  maxQuestionLen: 300,
  maxOptionLen: 100,
  minOptions: 2,
  maxOptions: 10,
  maxEmojiBytes: 32,
  maxQuizPoints: 1000,
  maxPresenceCount: 10_000_000,
} as const;

/** ChatMessageData is the body of chat.message; the message id is the event id. */
export interface ChatMessageData { text: string; name?: string }
/** ChatDeleteData is the body of chat.delete. */
export interface ChatDeleteData { message_id: string }
/** ReactionData is the body of reaction. */
export interface ReactionData { emoji: string }
/** PollOpenData is the body of poll.open. */
export interface PollOpenData { poll_id: string; question: string; options: string[] }
/** PollVoteData is the body of poll.vote; option is zero-based. */
export interface PollVoteData { poll_id: string; option: number }
/** PollCloseData is the body of poll.close. */
export interface PollCloseData { poll_id: string }
/** QAAskData is the body of qa.ask; the question id is the event id. */
export interface QAAskData { text: string }
/** QAUpvoteData is the body of qa.upvote. */
export interface QAUpvoteData { question_id: string }
/** QAAnsweredData is the body of qa.answered. */
export interface QAAnsweredData { question_id: string }
/** QuizAskData is the body of quiz.ask; correct stays private until quiz.reveal. */
export interface QuizAskData { quiz_id: string; question: string; options: string[]; correct: number; points?: number }
/** QuizAnswerData is the body of quiz.answer; option is zero-based. */
export interface QuizAnswerData { quiz_id: string; option: number }
/** QuizRevealData is the body of quiz.reveal. */
export interface QuizRevealData { quiz_id: string }
/** PresenceData is the body of presence (written by pushers, refused from clients). */
export interface PresenceData { node: string; viewers: number }

/** EventDataMap maps each event type to its body. */
export interface EventDataMap {
  "chat.message": ChatMessageData;
  "chat.delete": ChatDeleteData;
  reaction: ReactionData;
  "poll.open": PollOpenData;
  "poll.vote": PollVoteData;
  "poll.close": PollCloseData;
  "qa.ask": QAAskData;
  "qa.upvote": QAUpvoteData;
  "qa.answered": QAAnsweredData;
  "quiz.ask": QuizAskData;
  "quiz.answer": QuizAnswerData;
  "quiz.reveal": QuizRevealData;
  presence: PresenceData;
}

/** EventType names an engagement event type. */
export type EventType = keyof EventDataMap;

/** EVENT_TYPES lists every event type in the order of schemas.Types. */
export const EVENT_TYPES: readonly EventType[] = [
  "chat.message", "chat.delete", "reaction",
  "poll.open", "poll.vote", "poll.close",
  "qa.ask", "qa.upvote", "qa.answered",
  "quiz.ask", "quiz.answer", "quiz.reveal",
  "presence",
];

/** PublishInput is what a client publishes: ingest fills v, room, user and ts. */
export type PublishInput = {
  [T in EventType]: { id?: string; type: T; data: EventDataMap[T] };
}[EventType];

/** Event is a complete v1 envelope as it is stored in ovation.events. */
export type Event = {
  [T in EventType]: { v: number; id: string; room: string; user: string; type: T; ts: number; data: EventDataMap[T] };
}[EventType];

/** Rule names the validation rule an event broke (schemas.Rule). */
export type Rule =
  | "json" | "type" | "unknown" | "required" | "version" | "enum"
  | "utf8" | "chars" | "length" | "range" | "size";

/** EventValidationError says which field of an event broke which rule. */
export class EventValidationError extends Error {
  readonly field: string;
  readonly rule: Rule;
  readonly detail: string;
  constructor(field: string, rule: Rule, detail: string) {
    super(field ? `invalid event: field ${field} (${rule}): ${detail}` : `invalid event (${rule}): ${detail}`);
    this.name = "EventValidationError";
    this.field = field;
    this.rule = rule;
    this.detail = detail;
  }
}

const enc = new TextEncoder();
const byteLen = (s: string): number => enc.encode(s).length;

function isIDChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46 || c === 58;
}

// Go's unicode.IsControl: the C0 and C1 control characters and DEL.
const isControl = (r: number): boolean => r < 0x20 || (r >= 0x7f && r < 0xa0);

// Go's unicode.IsSpace (not JavaScript's \s, which also matches U+FEFF).
const SPACES = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
const isSpace = (r: number): boolean => SPACES.has(r);

function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    // A lone surrogate is what Go's decoder turns into U+FFFD.
    out.push(c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
  }
  return out;
}

function checkIDLike(field: string, v: string, max: number): void {
  if (v === "") throw new EventValidationError(field, "required", `${field} is missing`);
  const n = byteLen(v);
  if (n > max) throw new EventValidationError(field, "length", `${n} bytes, the limit is ${max}`);
  for (let i = 0; i < v.length; i++) {
    if (!isIDChar(v.charCodeAt(i))) {
      throw new EventValidationError(field, "chars", `character ${i} is not allowed; allowed are letters, digits and - _ . :`);
    }
  }
}

/** checkID validates an idempotency key or entity id (1–64 bytes of letters, digits, - _ . :). */
export function checkID(v: string, field = "id"): void {
  checkIDLike(field, v, LIMITS.maxIDLen);
}

/** checkRoom validates a room id. */
export function checkRoom(room: string): void {
  checkIDLike("room", room, LIMITS.maxRoomLen);
}

function checkText(field: string, v: string, min: number, max: number, bytesLimit: boolean): void {
  if (v === "" && min > 0) throw new EventValidationError(field, "required", `${field} is missing`);
  const cps = codePoints(v);
  for (const r of cps) {
    if (isControl(r) && !(field === "data.text" && (r === 0x0a || r === 0x09))) {
      throw new EventValidationError(field, "chars", `control character U+${r.toString(16).toUpperCase().padStart(4, "0")}`);
    }
    if (r === 0x2028 || r === 0x2029 || r === 0x202e || r === 0x202d) {
      throw new EventValidationError(field, "chars", `character U+${r.toString(16).toUpperCase()} is not allowed`);
    }
  }
  const n = bytesLimit ? enc.encode(String.fromCodePoint(...cps)).length : cps.length;
  if (n < min) throw new EventValidationError(field, "length", `too short: ${n}, the minimum is ${min}`);
  if (n > max) throw new EventValidationError(field, "length", `${n} ${bytesLimit ? "bytes" : "characters"}, the limit is ${max}`);
  if (min > 0 && cps.every(isSpace)) throw new EventValidationError(field, "required", `${field} is blank`);
}

// Field kinds of the v1 bodies, for the strict decode step (Go's
// DisallowUnknownFields plus its type checks).
type Kind = "string" | "int" | "strings";
const BODY_FIELDS: Record<EventType, Record<string, Kind>> = {
  "chat.message": { text: "string", name: "string" },
  "chat.delete": { message_id: "string" },
  reaction: { emoji: "string" },
  "poll.open": { poll_id: "string", question: "string", options: "strings" },
  "poll.vote": { poll_id: "string", option: "int" },
  "poll.close": { poll_id: "string" },
  "qa.ask": { text: "string" },
  "qa.upvote": { question_id: "string" },
  "qa.answered": { question_id: "string" },
  "quiz.ask": { quiz_id: "string", question: "string", options: "strings", correct: "int", points: "int" },
  "quiz.answer": { quiz_id: "string", option: "int" },
  "quiz.reveal": { quiz_id: "string" },
  presence: { node: "string", viewers: "int" },
};
const ENVELOPE_FIELDS: Record<string, Kind | "raw"> = {
  v: "int", id: "string", room: "string", user: "string", type: "string", ts: "int", data: "raw",
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// decodeStrict checks a parsed JSON object against field kinds and returns
// it with Go's zero values for absent or null fields.
function decodeStrict(v: unknown, fields: Record<string, Kind | "raw">, path: string): Record<string, unknown> {
  const join = (f: string): string => (path ? `${path}.${f}` : f);
  if (!isObject(v)) {
    if (v === null) return {};
    throw new EventValidationError(path, "type", `expected an object, got JSON ${Array.isArray(v) ? "array" : typeof v}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const kind = fields[k];
    if (kind === undefined) throw new EventValidationError(join(k), "unknown", "field is not part of schema v1");
    if (val === null) continue;
    switch (kind) {
      case "raw":
        break;
      case "string":
        if (typeof val !== "string") throw new EventValidationError(join(k), "type", `expected string, got JSON ${typeof val}`);
        break;
      case "int":
        if (typeof val !== "number" || !Number.isSafeInteger(val)) throw new EventValidationError(join(k), "type", `expected an integer, got JSON ${typeof val}`);
        break;
      case "strings":
        if (!Array.isArray(val)) throw new EventValidationError(join(k), "type", `expected an array of strings, got JSON ${typeof val}`);
        val.forEach((s, i) => {
          if (typeof s !== "string") throw new EventValidationError(`${join(k)}[${i}]`, "type", "expected string");
        });
        break;
    }
    out[k] = val;
  }
  for (const [k, kind] of Object.entries(fields)) {
    if (out[k] === undefined && kind !== "raw") out[k] = kind === "string" ? "" : kind === "int" ? 0 : null;
  }
  return out;
}

function checkOptions(opts: string[] | null): void {
  const field = "data.options";
  const n = opts ? opts.length : 0;
  if (n < LIMITS.minOptions || n > LIMITS.maxOptions) {
    throw new EventValidationError(field, "length", `${n} options, allowed are ${LIMITS.minOptions} to ${LIMITS.maxOptions}`);
  }
  opts!.forEach((o, i) => checkText(`${field}[${i}]`, o, 1, LIMITS.maxOptionLen, false));
}

function checkOption(opt: number): void {
  if (opt < 0 || opt >= LIMITS.maxOptions) {
    throw new EventValidationError("data.option", "range", `option ${opt} is outside 0..${LIMITS.maxOptions - 1}`);
  }
}

function validateData(type: EventType, d: Record<string, unknown>): void {
  const s = (k: string): string => d[k] as string;
  const n = (k: string): number => d[k] as number;
  switch (type) {
    case "chat.message":
      checkText("data.text", s("text"), 1, LIMITS.maxChatLen, false);
      checkText("data.name", s("name"), 0, LIMITS.maxNameLen, false);
      return;
    case "chat.delete":
      return checkID(s("message_id"), "data.message_id");
    case "reaction": {
      checkText("data.emoji", s("emoji"), 1, LIMITS.maxEmojiBytes, true);
      if (codePoints(s("emoji")).some(isSpace)) throw new EventValidationError("data.emoji", "chars", "white space");
      return;
    }
    case "poll.open":
      checkID(s("poll_id"), "data.poll_id");
      checkText("data.question", s("question"), 1, LIMITS.maxQuestionLen, false);
      return checkOptions(d.options as string[] | null);
    case "poll.vote":
      checkID(s("poll_id"), "data.poll_id");
      return checkOption(n("option"));
    case "poll.close":
      return checkID(s("poll_id"), "data.poll_id");
    case "qa.ask":
      return checkText("data.text", s("text"), 1, LIMITS.maxQuestionLen, false);
    case "qa.upvote":
    case "qa.answered":
      return checkID(s("question_id"), "data.question_id");
    case "quiz.ask": {
      checkID(s("quiz_id"), "data.quiz_id");
      checkText("data.question", s("question"), 1, LIMITS.maxQuestionLen, false);
      const opts = d.options as string[] | null;
      checkOptions(opts);
      if (n("correct") < 0 || n("correct") >= opts!.length) throw new EventValidationError("data.correct", "range", `correct option ${n("correct")} is outside 0..${opts!.length - 1}`);
      if (n("points") < 0 || n("points") > LIMITS.maxQuizPoints) throw new EventValidationError("data.points", "range", `points ${n("points")} is outside 0..${LIMITS.maxQuizPoints}`);
      return;
    }
    case "quiz.answer":
      checkID(s("quiz_id"), "data.quiz_id");
      return checkOption(n("option"));
    case "quiz.reveal":
      return checkID(s("quiz_id"), "data.quiz_id");
    case "presence":
      checkID(s("node"), "data.node");
      if (n("viewers") < 0 || n("viewers") > LIMITS.maxPresenceCount) throw new EventValidationError("data.viewers", "range", `viewers ${n("viewers")} is outside 0..${LIMITS.maxPresenceCount}`);
      return;
  }
}

/**
 * validateBody checks an event's type and data (schemas Event.ValidateBody):
 * what a client controls when it publishes. It throws an
 * EventValidationError naming the field and the rule.
 */
export function validateBody(ev: { type?: unknown; data?: unknown }): void {
  const t = ev.type;
  if (t === undefined || t === null || t === "") throw new EventValidationError("type", "required", "type is missing");
  if (typeof t !== "string") throw new EventValidationError("type", "type", "expected string");
  if (!(t in BODY_FIELDS)) throw new EventValidationError("type", "enum", `unknown event type ${JSON.stringify(t.slice(0, 40))}`);
  if (ev.data === undefined || ev.data === null) throw new EventValidationError("data", "required", "data is missing");
  const d = decodeStrict(ev.data, BODY_FIELDS[t as EventType], "data");
  validateData(t as EventType, d);
}

/**
 * parseEvent decodes and validates one complete event as stored in Kafka
 * (schemas.ParseEvent): every envelope field present, data valid for its
 * type. It throws an EventValidationError naming the field and the rule.
 */
export function parseEvent(raw: string | Uint8Array): Event {
  let bytes: Uint8Array;
  let text: string;
  if (typeof raw === "string") {
    text = raw;
    bytes = enc.encode(raw);
  } else {
    bytes = raw;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      if (bytes.length > LIMITS.maxEventBytes) throw new EventValidationError("", "size", `event is ${bytes.length} bytes, the limit is ${LIMITS.maxEventBytes}`);
      throw new EventValidationError("", "utf8", "input is not valid UTF-8");
    }
  }
  if (bytes.length > LIMITS.maxEventBytes) throw new EventValidationError("", "size", `event is ${bytes.length} bytes, the limit is ${LIMITS.maxEventBytes}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new EventValidationError("", "json", `malformed JSON: ${(e as Error).message}`);
  }
  const env = decodeStrict(parsed, ENVELOPE_FIELDS, "");
  const v = env.v as number;
  if (v !== SCHEMA_VERSION) {
    if (v === 0) throw new EventValidationError("v", "required", "schema version is missing");
    throw new EventValidationError("v", "version", `schema version ${v} is not supported (this build reads ${SCHEMA_VERSION})`);
  }
  checkID(env.id as string);
  checkRoom(env.room as string);
  checkText("user", env.user as string, 1, LIMITS.maxUserLen, true);
  if ((env.ts as number) <= 0) throw new EventValidationError("ts", "range", "ts must be a positive Unix time in milliseconds");
  validateBody({ type: env.type === "" ? undefined : env.type, data: env.data });
  return env as unknown as Event;
}
