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
  maxEmojiBytes: 48,
  maxEmojiCodePoints: 12,
  maxQuizPoints: 1000,
  maxPresenceCount: 10_000_000,
  maxReasonLen: 200,
  maxTimeoutSeconds: 7 * 86400,
  maxSlowModeSeconds: 3600,
  maxFilterWords: 200,
  maxFilterWordLen: 50,
  maxFilterPatterns: 10,
  maxFilterPatternLen: 100,
  maxPollTextLen: 140,
  pollTextWindow: 10,
  maxRating: 10,
  maxTimerSeconds: 86400,
} as const;

/** TIMER_USER is the user of the closes the processors write for timers (schemas.TimerUser). */
export const TIMER_USER = "system:timer";

/**
 * quizPoints is what a correct answer scores (schemas.QuizPoints): points,
 * or on a timed question points decaying linearly to half at the deadline.
 */
export function quizPoints(points: number, askTS: number, closesAt: number, answerTS: number): number {
  if (!closesAt || closesAt <= askTS) return points;
  const d = closesAt - askTS;
  const e = Math.min(Math.max(answerTS - askTS, 0), d);
  return points - Math.floor((points * e) / (2 * d));
}

/** PollKind is a poll's kind (schemas.PollKinds); absent means single. */
export type PollKind = "single" | "multi" | "ranking" | "rating" | "text" | "cloud";
/** POLL_KINDS lists the poll kinds in the order of schemas.PollKinds. */
export const POLL_KINDS: readonly PollKind[] = ["single", "multi", "ranking", "rating", "text", "cloud"];
/** STOP_LANGUAGES are the languages a cloud poll may drop stop words of (schemas.StopLanguages). */
export const STOP_LANGUAGES: readonly string[] = ["de", "en", "es", "fr"];
/** RatingScale is a rating poll's scale: 1-5, 1-10, or nps (0-10). */
export type RatingScale = "1-5" | "1-10" | "nps";
/** scaleRange returns a rating scale's lowest and highest value (schemas.ScaleRange). */
export function scaleRange(scale: string): [number, number] | undefined {
  switch (scale) {
    case "1-5": return [1, 5];
    case "1-10": return [1, 10];
    case "nps": return [0, 10];
  }
  return undefined;
}

/**
 * EVENT_SHAPE is the structure one event may have (schemas.EventShape),
 * checked before decoding: a text beyond it is refused with rule json.
 */
export const EVENT_SHAPE = { maxDepth: 8, maxTokens: 256, maxTokenBytes: 16 << 10 } as const;

/** ChatMessageData is the body of chat.message; the message id is the event id. */
export interface ChatMessageData { text: string; name?: string }
/** ChatDeleteData is the body of chat.delete. */
export interface ChatDeleteData { message_id: string }
/** ReactionData is the body of reaction. */
export interface ReactionData { emoji: string }
/**
 * PollOpenData is the body of poll.open. options are required except on
 * rating and text polls (which have none); max_picks is for multi polls,
 * scale for (and required on) rating polls.
 */
export interface PollOpenData { poll_id: string; question: string; options?: string[]; kind?: PollKind; max_picks?: number; scale?: RatingScale; stop_words?: string[]; seconds?: number }
/** PollPickData is the body of poll.pick: the user's whole choice in a multi poll. */
export interface PollPickData { poll_id: string; options: number[] }
/** PollRankData is the body of poll.rank: options best first. */
export interface PollRankData { poll_id: string; order: number[] }
/** PollRateData is the body of poll.rate: a value of the poll's scale. */
export interface PollRateData { poll_id: string; rating: number }
/** PollTextData is the body of poll.text: a short single-line answer. */
export interface PollTextData { poll_id: string; answer: string }
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
export interface QuizAskData { quiz_id: string; question: string; options: string[]; correct: number; points?: number; seconds?: number }
/** QuizAnswerData is the body of quiz.answer; option is zero-based. */
export interface QuizAnswerData { quiz_id: string; option: number }
/** QuizRevealData is the body of quiz.reveal. */
export interface QuizRevealData { quiz_id: string }
/** PresenceData is the body of presence (written by pushers, refused from clients). */
export interface PresenceData { node: string; viewers: number }
/** RoomCloseData is the body of room.close: an empty object. */
export type RoomCloseData = Record<string, never>;
/** QARemoveData is the body of qa.remove. */
export interface QARemoveData { question_id: string }
/** ReactionRemoveData is the body of reaction.remove: the emoji slot to remove. */
export interface ReactionRemoveData { emoji: string }
/** ModBanData is the body of mod.ban: hide also removes the user's chat lines and questions. */
export interface ModBanData { target: string; reason?: string; hide?: boolean }
/** ModTimeoutData is the body of mod.timeout: a ban for seconds from the event's ts. */
export interface ModTimeoutData { target: string; seconds: number; reason?: string; hide?: boolean }
/** ChatPinData is the body of chat.pin: the chat line to pin. */
export interface ChatPinData { message_id: string }
/** ModFiltersData is the body of mod.filters: the room's word filter (private to the processors). */
export interface ModFiltersData { words: string[]; patterns?: string[]; action: "refuse" | "mask" | "hold" }
/** ModApproveData is the body of mod.approve: the held item's key in the moderator view's held map. */
export interface ModApproveData { id: string }
/** ModRejectData is the body of mod.reject: the held item's key. */
export interface ModRejectData { id: string }
/** ChatUnpinData is the body of chat.unpin: an empty object. */
export type ChatUnpinData = Record<string, never>;
/** ModUnbanData is the body of mod.unban. */
export interface ModUnbanData { target: string }
/** Controls are a room's live controls, the body of room.controls; a field left out is off. */
export interface Controls { slow_mode?: number; chat_off?: boolean; reactions_off?: boolean; questions_off?: boolean; emote_only?: boolean; hold_chat?: boolean; hold_questions?: boolean }

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
  "room.close": RoomCloseData;
  "qa.remove": QARemoveData;
  "reaction.remove": ReactionRemoveData;
  "mod.ban": ModBanData;
  "mod.timeout": ModTimeoutData;
  "mod.unban": ModUnbanData;
  "room.controls": Controls;
  "chat.pin": ChatPinData;
  "chat.unpin": ChatUnpinData;
  "mod.filters": ModFiltersData;
  "mod.approve": ModApproveData;
  "mod.reject": ModRejectData;
  "poll.pick": PollPickData;
  "poll.rank": PollRankData;
  "poll.rate": PollRateData;
  "poll.text": PollTextData;
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
  "room.close", "qa.remove", "reaction.remove",
  "mod.ban", "mod.timeout", "mod.unban", "room.controls",
  "chat.pin", "chat.unpin", "mod.filters",
  "mod.approve", "mod.reject",
  "poll.pick", "poll.rank", "poll.rate", "poll.text",
];

/** PublishInput is what a client publishes: ingest fills v, room, user and ts. */
export type PublishInput =
  | {
      [T in EventType]: { id?: string; type: T; data: EventDataMap[T] };
    }[EventType]
  | CustomInput;

/**
 * CustomInput is an event of a deployment's custom type (docs/custom.md):
 * the SDK checks the name and that data is an object; the server checks
 * data against the type's JSON Schema.
 */
export type CustomInput = { id?: string; type: `custom.${string}`; data: Record<string, unknown> };

const CUSTOM_TYPE = /^custom\.[a-z0-9_-]{1,41}$/;

/** Event is a complete v1 envelope as it is stored in ovation.events. */
export type Event = {
  [T in EventType]: { v: number; id: string; room: string; user: string; type: T; ts: number; data: EventDataMap[T] };
}[EventType];

/** Rule names the validation rule an event broke (schemas.Rule). */
export type Rule =
  | "json" | "type" | "unknown" | "required" | "version" | "enum"
  | "utf8" | "chars" | "length" | "range" | "size" | "emoji" | "unique";

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

import { firstDuplicate, firstLone, invalidUTF8At, jsonPathAt, JSONSyntaxError, parseJSON, truncate } from "./json.js";
import type { JValue } from "./json.js";

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

type Range = readonly [number, number];
const inRanges = (r: number, rs: readonly Range[]): boolean => rs.some(([lo, hi]) => r >= lo && r <= hi);
// schemas/text.go bidiControls: ALM, LRM, RLM, embeddings and overrides,
// isolates. Refused in free text (rule chars).
const BIDI_CONTROLS: readonly Range[] = [[0x061c, 0x061c], [0x200e, 0x200f], [0x202a, 0x202e], [0x2066, 0x2069]];
// schemas/text.go invisibles: text of only these and white space is blank.
const INVISIBLES: readonly Range[] = [
  [0x00ad, 0x00ad], [0x034f, 0x034f], [0x061c, 0x061c], [0x115f, 0x1160],
  [0x17b4, 0x17b5], [0x180b, 0x180f], [0x200b, 0x200f], [0x202a, 0x202e],
  [0x2060, 0x206f], [0x2800, 0x2800], [0x3164, 0x3164], [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff], [0xffa0, 0xffa0],
];
/** MAX_COMBINING_MARKS bounds the combining marks on one character (schemas.MaxCombiningMarks). */
export const MAX_COMBINING_MARKS = 8;
const MARK = /^[\p{Mn}\p{Me}]$/u;
const FORMAT = /^\p{Cf}$/u;
const isBlankChar = (r: number): boolean => isSpace(r) || (r > 0x7f && inRanges(r, INVISIBLES));

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

/** MOD_VIEW_SUFFIX ends the id of a room's moderator view (schemas.ModViewSuffix); no room id can contain "~". */
export const MOD_VIEW_SUFFIX = "~mod";

/** modView returns the id of room's moderator view: subscribe to it (with a moderate token) to see the pending queue. */
export function modView(room: string): string {
  return room + MOD_VIEW_SUFFIX;
}

/** checkStream validates what a client subscribes to: a room id, or a room's moderator view (schemas.CheckStream). */
export function checkStream(id: string): void {
  checkRoom(id.endsWith(MOD_VIEW_SUFFIX) ? id.slice(0, -MOD_VIEW_SUFFIX.length) : id);
}

function checkText(field: string, v: string, min: number, max: number, bytesLimit: boolean): void {
  if (v === "" && min > 0) throw new EventValidationError(field, "required", `${field} is missing`);
  const cps = codePoints(v);
  const hex = (r: number): string => r.toString(16).toUpperCase().padStart(4, "0");
  let marks = 0;
  for (const r of cps) {
    if (isControl(r) && !(field === "data.text" && (r === 0x0a || r === 0x09))) {
      throw new EventValidationError(field, "chars", `control character U+${hex(r)}`);
    }
    if (r === 0x2028 || r === 0x2029) {
      throw new EventValidationError(field, "chars", `character U+${hex(r)} is not allowed`);
    }
    if (inRanges(r, BIDI_CONTROLS)) {
      throw new EventValidationError(field, "chars", `bidirectional control character U+${hex(r)} is not allowed`);
    }
    const ch = String.fromCodePoint(r);
    if (r >= 0x300 && MARK.test(ch)) {
      if (++marks > MAX_COMBINING_MARKS) {
        throw new EventValidationError(field, "chars", `more than ${MAX_COMBINING_MARKS} combining marks on one character`);
      }
    } else if (!(r >= 0x80 && FORMAT.test(ch))) {
      marks = 0; // a joiner inside a run of marks does not end it
    }
  }
  const n = bytesLimit ? enc.encode(String.fromCodePoint(...cps)).length : cps.length;
  if (n < min) throw new EventValidationError(field, "length", `too short: ${n}, the minimum is ${min}`);
  if (n > max) throw new EventValidationError(field, "length", `${n} ${bytesLimit ? "bytes" : "characters"}, the limit is ${max}`);
  if (min > 0 && cps.every(isBlankChar)) throw new EventValidationError(field, "required", `${field} is blank`);
}

// RGI_EMOJI matches exactly one emoji of Unicode's RGI set, fully
// qualified (UTS #51 ED-27), with the engine's own Unicode data. The v
// flag is ES2024; an engine without it gets null, and then only the
// length rules are checked here (ingest checks the set).
const RGI_EMOJI: RegExp | null = (() => {
  try {
    return new RegExp("^\\p{RGI_Emoji}$", "v");
  } catch {
    return null;
  }
})();

/**
 * isEmoji reports whether s is exactly one fully-qualified RGI emoji, the
 * rule of schemas.CheckEmoji for reaction emoji. The engine may know a
 * newer Emoji version than the server (Go's table is Emoji 15.0): an
 * emoji newer than that passes here and is refused by ingest.
 */
export function isEmoji(s: string): boolean {
  try {
    checkEmoji(s);
    return true;
  } catch {
    return false;
  }
}

function checkEmoji(v: string, field = "data.emoji"): void {
  if (v === "") throw new EventValidationError(field, "required", `${field} is missing`);
  const cps = codePoints(v);
  const bytes = enc.encode(String.fromCodePoint(...cps)).length;
  if (bytes > LIMITS.maxEmojiBytes) throw new EventValidationError(field, "length", `${bytes} bytes, the limit is ${LIMITS.maxEmojiBytes}`);
  if (cps.length > LIMITS.maxEmojiCodePoints) throw new EventValidationError(field, "length", `${cps.length} code points, the limit is ${LIMITS.maxEmojiCodePoints}`);
  if (RGI_EMOJI === null || RGI_EMOJI.test(v)) return;
  const seg = typeof Intl !== "undefined" && "Segmenter" in Intl ? [...new Intl.Segmenter().segment(v)].length : 1;
  if (seg !== 1) throw new EventValidationError(field, "emoji", `${seg} characters (grapheme clusters); a reaction is exactly one emoji`);
  const [first, ...rest] = [...v];
  if (RGI_EMOJI.test(v + "\ufe0f") || (rest[0] !== "\ufe0f" && RGI_EMOJI.test(first + "\ufe0f" + rest.join("")))) {
    throw new EventValidationError(field, "emoji", "not fully qualified: add U+FE0F (emoji presentation) after the symbol");
  }
  throw new EventValidationError(field, "emoji", "not a Unicode emoji (RGI emoji set)");
}

// Field kinds of the envelope and of each body: what Go's struct decoding
// accepts for each field (DisallowUnknownFields, case-sensitive names).
type Kind = "string" | "int" | "strings" | "ints" | "bool" | "raw";
const BODY_FIELDS: Record<EventType, Record<string, Kind>> = {
  "chat.message": { text: "string", name: "string" },
  "chat.delete": { message_id: "string" },
  reaction: { emoji: "string" },
  "poll.open": { poll_id: "string", question: "string", options: "strings", kind: "string", max_picks: "int", scale: "string", stop_words: "strings", seconds: "int" },
  "poll.vote": { poll_id: "string", option: "int" },
  "poll.close": { poll_id: "string" },
  "qa.ask": { text: "string" },
  "qa.upvote": { question_id: "string" },
  "qa.answered": { question_id: "string" },
  "quiz.ask": { quiz_id: "string", question: "string", options: "strings", correct: "int", points: "int", seconds: "int" },
  "quiz.answer": { quiz_id: "string", option: "int" },
  "quiz.reveal": { quiz_id: "string" },
  presence: { node: "string", viewers: "int" },
  "room.close": {},
  "qa.remove": { question_id: "string" },
  "reaction.remove": { emoji: "string" },
  "mod.ban": { target: "string", reason: "string", hide: "bool" },
  "mod.timeout": { target: "string", seconds: "int", reason: "string", hide: "bool" },
  "mod.unban": { target: "string" },
  "room.controls": { slow_mode: "int", chat_off: "bool", reactions_off: "bool", questions_off: "bool", emote_only: "bool", hold_chat: "bool", hold_questions: "bool" },
  "chat.pin": { message_id: "string" },
  "chat.unpin": {},
  "mod.filters": { words: "strings", patterns: "strings", action: "string" },
  "mod.approve": { id: "string" },
  "mod.reject": { id: "string" },
  "poll.pick": { poll_id: "string", options: "ints" },
  "poll.rank": { poll_id: "string", order: "ints" },
  "poll.rate": { poll_id: "string", rating: "int" },
  "poll.text": { poll_id: "string", answer: "string" },
};
// Numbers whose absence is an error: a missing number reads as 0, which is
// a valid value (schemas requiredNumbers).
const REQUIRED_NUMBERS: Partial<Record<EventType, string[]>> = {
  "poll.vote": ["option"],
  "quiz.ask": ["correct"],
  "quiz.answer": ["option"],
  presence: ["viewers"],
  "mod.timeout": ["seconds"],
  "poll.rate": ["rating"],
};
const ENVELOPE_FIELDS: Record<string, Kind> = {
  v: "int", id: "string", room: "string", user: "string", type: "string", ts: "int", data: "raw",
};

const KIND_NAME: Record<JValue["k"], string> = { obj: "an object", arr: "an array", str: "a string", num: "a number", bool: "a boolean", null: "null" };
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function intOf(v: JValue, field: string): number {
  if (v.k !== "num") throw new EventValidationError(field, "type", `expected an integer, got ${KIND_NAME[v.k]}`);
  if (!/^-?\d+$/.test(v.raw)) throw new EventValidationError(field, "type", "expected an integer, got a number with a fraction or exponent");
  const n = BigInt(v.raw);
  if (n < INT64_MIN || n > INT64_MAX) throw new EventValidationError(field, "type", "expected an integer, got a number out of range");
  // Beyond 2^53 the value is only compared against small limits, so the
  // rounding of Number() cannot change an outcome.
  return Number(n);
}

// decodeObject is Go's strict struct decode: every key must be a field,
// each value of the field's JSON kind or null (which leaves the zero
// value). It returns the decoded fields; absent ones are undefined.
function decodeObject(v: JValue, fields: Record<string, Kind>, path: string): Record<string, unknown> {
  const join = (f: string): string => (path ? `${path}.${f}` : f);
  if (v.k !== "obj") throw new EventValidationError(path, "type", `expected an object, got ${KIND_NAME[v.k]}`);
  const out: Record<string, unknown> = {};
  for (const [key, val] of v.entries) {
    const kind = fields[key];
    if (kind === undefined || !Object.prototype.hasOwnProperty.call(fields, key)) {
      throw new EventValidationError(join(truncate(key, 40)), "unknown", "field is not part of schema v1");
    }
    if (kind === "raw") {
      out[key] = val;
      continue;
    }
    if (val.k === "null") {
      delete out[key];
      continue;
    }
    switch (kind) {
      case "string":
        if (val.k !== "str") throw new EventValidationError(join(key), "type", `expected a string, got ${KIND_NAME[val.k]}`);
        out[key] = val.v;
        break;
      case "int":
        out[key] = intOf(val, join(key));
        break;
      case "bool":
        if (val.k !== "bool") throw new EventValidationError(join(key), "type", `expected a boolean, got ${KIND_NAME[val.k]}`);
        out[key] = val.v;
        break;
      case "strings":
        if (val.k !== "arr") throw new EventValidationError(join(key), "type", `expected an array, got ${KIND_NAME[val.k]}`);
        out[key] = val.items.map((x, i) => {
          if (x.k === "null") return "";
          if (x.k !== "str") throw new EventValidationError(`${join(key)}[${i}]`, "type", `expected a string, got ${KIND_NAME[x.k]}`);
          return x.v;
        });
        break;
      case "ints":
        if (val.k !== "arr") throw new EventValidationError(join(key), "type", `expected an array, got ${KIND_NAME[val.k]}`);
        out[key] = val.items.map((x, i) => (x.k === "null" ? 0 : intOf(x, `${join(key)}[${i}]`)));
        break;
    }
  }
  return out;
}

function checkOptions(opts: string[] | undefined): void {
  const field = "data.options";
  if (opts === undefined) throw new EventValidationError(field, "required", `${field} is missing`);
  if (opts.length < LIMITS.minOptions || opts.length > LIMITS.maxOptions) {
    throw new EventValidationError(field, "length", `${opts.length} options, allowed are ${LIMITS.minOptions} to ${LIMITS.maxOptions}`);
  }
  opts.forEach((o, i) => checkText(`${field}[${i}]`, o, 1, LIMITS.maxOptionLen, false));
}

function checkOption(opt: number): void {
  if (opt < 0 || opt >= LIMITS.maxOptions) {
    throw new EventValidationError("data.option", "range", `option ${opt} is outside 0..${LIMITS.maxOptions - 1}`);
  }
}

// checkSeconds is schemas checkSeconds: a timer of 0 (none) to a day.
function checkSeconds(v: number): void {
  if (v < 0 || v > LIMITS.maxTimerSeconds) throw new EventValidationError("data.seconds", "range", `seconds ${v} is outside 0..${LIMITS.maxTimerSeconds} (0 means no timer)`);
}

// checkPicks is schemas checkPicks: 1..maxOptions distinct option indexes.
function checkPicks(field: string, opts: number[] | undefined): void {
  if (opts === undefined) throw new EventValidationError(field, "required", `${field} is missing`);
  if (opts.length < 1 || opts.length > LIMITS.maxOptions) {
    throw new EventValidationError(field, "length", `${opts.length} entries, allowed are 1 to ${LIMITS.maxOptions}`);
  }
  const seen = new Set<number>();
  opts.forEach((o, i) => {
    const f = `${field}[${i}]`;
    if (o < 0 || o >= LIMITS.maxOptions) throw new EventValidationError(f, "range", `option ${o} is outside 0..${LIMITS.maxOptions - 1}`);
    if (seen.has(o)) throw new EventValidationError(f, "unique", `option ${o} is listed twice`);
    seen.add(o);
  });
}

// checkPollKind is schemas PollOpenData.validatePollKind.
function checkPollKind(d: Record<string, unknown>): void {
  const kind = (d.kind as string | undefined) ?? "";
  const opts = d.options as string[] | undefined;
  switch (kind) {
    case "": case "single": case "multi": case "ranking":
      checkOptions(opts);
      break;
    case "rating": case "text": case "cloud":
      if (opts !== undefined) throw new EventValidationError("data.options", "unknown", `a ${kind} poll has no options`);
      break;
    default:
      throw new EventValidationError("data.kind", "enum", `unknown poll kind ${JSON.stringify(truncate(kind, 40))} (allowed: single, multi, ranking, rating, text, cloud)`);
  }
  const mp = (d.max_picks as number | undefined) ?? 0;
  if (mp !== 0) {
    if (kind !== "multi") throw new EventValidationError("data.max_picks", "unknown", "max_picks is only for multi polls");
    const n = opts?.length ?? 0;
    if (mp < 1 || mp > n) throw new EventValidationError("data.max_picks", "range", `max_picks ${mp} is outside 1..${n} (the number of options)`);
  }
  const scale = (d.scale as string | undefined) ?? "";
  if (kind === "rating") {
    if (scale === "") throw new EventValidationError("data.scale", "required", "a rating poll needs a scale (1-5, 1-10 or nps)");
    if (scaleRange(scale) === undefined) throw new EventValidationError("data.scale", "enum", `unknown scale ${JSON.stringify(truncate(scale, 40))} (allowed: 1-5, 1-10, nps)`);
  } else if (scale !== "") {
    throw new EventValidationError("data.scale", "unknown", "scale is only for rating polls");
  }
  const stop = d.stop_words as string[] | undefined;
  if (stop !== undefined) {
    if (kind !== "cloud") throw new EventValidationError("data.stop_words", "unknown", "stop_words is only for cloud polls");
    if (stop.length < 1 || stop.length > 4) throw new EventValidationError("data.stop_words", "length", `${stop.length} languages, allowed are 1 to 4`);
    stop.forEach((l, i) => {
      const f = `data.stop_words[${i}]`;
      if (!STOP_LANGUAGES.includes(l)) throw new EventValidationError(f, "enum", `no stop words for language ${JSON.stringify(truncate(l, 20))} (known: de, en, es, fr)`);
      if (stop.slice(0, i).includes(l)) throw new EventValidationError(f, "unique", "language listed twice");
    });
  }
}

// validateData is the port of each payload's validate method, in the same
// order of checks.
function validateData(type: EventType, d: Record<string, unknown>): void {
  const s = (k: string): string => (d[k] as string | undefined) ?? "";
  const n = (k: string): number => (d[k] as number | undefined) ?? 0;
  switch (type) {
    case "chat.message":
      checkText("data.text", s("text"), 1, LIMITS.maxChatLen, false);
      checkText("data.name", s("name"), 0, LIMITS.maxNameLen, false);
      return;
    case "chat.delete":
      return checkID(s("message_id"), "data.message_id");
    case "reaction":
    case "reaction.remove":
      return checkEmoji(s("emoji"));
    case "room.close":
      return;
    case "qa.remove":
      return checkID(s("question_id"), "data.question_id");
    case "poll.open":
      checkID(s("poll_id"), "data.poll_id");
      checkText("data.question", s("question"), 1, LIMITS.maxQuestionLen, false);
      checkPollKind(d);
      return checkSeconds(n("seconds"));
    case "poll.pick":
      checkID(s("poll_id"), "data.poll_id");
      return checkPicks("data.options", d.options as number[] | undefined);
    case "poll.rank":
      checkID(s("poll_id"), "data.poll_id");
      return checkPicks("data.order", d.order as number[] | undefined);
    case "poll.rate":
      checkID(s("poll_id"), "data.poll_id");
      if (n("rating") < 0 || n("rating") > LIMITS.maxRating) throw new EventValidationError("data.rating", "range", `rating ${n("rating")} is outside 0..${LIMITS.maxRating}`);
      return;
    case "poll.text":
      checkID(s("poll_id"), "data.poll_id");
      return checkText("data.answer", s("answer"), 1, LIMITS.maxPollTextLen, false);
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
      const opts = d.options as string[] | undefined;
      checkOptions(opts);
      if (n("correct") < 0 || n("correct") >= opts!.length) throw new EventValidationError("data.correct", "range", `correct option ${n("correct")} is outside 0..${opts!.length - 1}`);
      if (n("points") < 0 || n("points") > LIMITS.maxQuizPoints) throw new EventValidationError("data.points", "range", `points ${n("points")} is outside 0..${LIMITS.maxQuizPoints} (0 means 1)`);
      return checkSeconds(n("seconds"));
    }
    case "quiz.answer":
      checkID(s("quiz_id"), "data.quiz_id");
      return checkOption(n("option"));
    case "quiz.reveal":
      return checkID(s("quiz_id"), "data.quiz_id");
    case "mod.ban":
      checkText("data.target", s("target"), 1, LIMITS.maxUserLen, true);
      return checkText("data.reason", s("reason"), 0, LIMITS.maxReasonLen, false);
    case "mod.timeout":
      checkText("data.target", s("target"), 1, LIMITS.maxUserLen, true);
      if (n("seconds") < 1 || n("seconds") > LIMITS.maxTimeoutSeconds) throw new EventValidationError("data.seconds", "range", `seconds ${n("seconds")} is outside 1..${LIMITS.maxTimeoutSeconds}`);
      return checkText("data.reason", s("reason"), 0, LIMITS.maxReasonLen, false);
    case "mod.unban":
      return checkText("data.target", s("target"), 1, LIMITS.maxUserLen, true);
    case "chat.pin":
      return checkID(s("message_id"), "data.message_id");
    case "chat.unpin":
      return;
    case "mod.filters": {
      const words = (d.words as string[] | undefined) ?? [];
      if (words.length > LIMITS.maxFilterWords) throw new EventValidationError("data.words", "length", `${words.length} words, the limit is ${LIMITS.maxFilterWords}`);
      words.forEach((w, i) => {
        const field = `data.words[${i}]`;
        checkText(field, w, 1, LIMITS.maxFilterWordLen, false);
        if (/\s/u.test(w)) throw new EventValidationError(field, "chars", "a filter word is one word: no white space");
        if (!/[\p{L}\p{N}\p{Mn}@$]/u.test(w)) throw new EventValidationError(field, "chars", "a filter word needs letters or digits");
      });
      const patterns = (d.patterns as string[] | undefined) ?? [];
      if (patterns.length > LIMITS.maxFilterPatterns) throw new EventValidationError("data.patterns", "length", `${patterns.length} patterns, the limit is ${LIMITS.maxFilterPatterns}`);
      // RE2 syntax is checked by the server (schemas.CompilePattern).
      patterns.forEach((p, i) => checkText(`data.patterns[${i}]`, p, 1, LIMITS.maxFilterPatternLen, true));
      if (s("action") !== "refuse" && s("action") !== "mask" && s("action") !== "hold") throw new EventValidationError("data.action", "enum", 'action is "refuse", "mask" or "hold"');
      return;
    }
    case "mod.approve":
    case "mod.reject":
      return checkID(s("id"), "data.id");
    case "room.controls":
      if (n("slow_mode") < 0 || n("slow_mode") > LIMITS.maxSlowModeSeconds) throw new EventValidationError("data.slow_mode", "range", `slow_mode ${n("slow_mode")} is outside 0..${LIMITS.maxSlowModeSeconds} seconds`);
      return;
    case "presence":
      checkID(s("node"), "data.node");
      if (n("viewers") < 0 || n("viewers") > LIMITS.maxPresenceCount) throw new EventValidationError("data.viewers", "range", `viewers ${n("viewers")} is outside 0..${LIMITS.maxPresenceCount}`);
      return;
  }
}

// bodyOf is schemas Event.ValidateBody on an already parsed type and data.
function bodyOf(type: string, data: JValue | undefined): Record<string, unknown> {
  if (type === "") throw new EventValidationError("type", "required", "type is missing");
  if (!Object.prototype.hasOwnProperty.call(BODY_FIELDS, type)) {
    throw new EventValidationError("type", "enum", `unknown event type ${JSON.stringify(truncate(type, 40))}`);
  }
  const t = type as EventType;
  if (data === undefined || data.k === "null") throw new EventValidationError("data", "required", "data is missing");
  const d = decodeObject(data, BODY_FIELDS[t], "data");
  validateData(t, d);
  for (const k of REQUIRED_NUMBERS[t] ?? []) {
    if (d[k] === undefined) throw new EventValidationError(`data.${k}`, "required", `data.${k} is missing`);
  }
  return d;
}

// parseBytes runs the shared first steps of schemas decodeStrict: UTF-8,
// top-level null, syntax.
function parseBytes(b: Uint8Array): JValue {
  const bad = invalidUTF8At(b);
  if (bad >= 0) throw new EventValidationError(jsonPathAt(b, bad), "utf8", `invalid UTF-8 at byte ${bad}`);
  let v: JValue;
  try {
    v = parseJSON(b, EVENT_SHAPE);
  } catch (e) {
    if (e instanceof JSONSyntaxError) {
      throw new EventValidationError("", "json", e.detail.startsWith("trailing") ? e.detail : `malformed JSON: ${e.detail}`);
    }
    throw e;
  }
  if (v.k === "null") throw new EventValidationError("", "type", "expected an object, got null");
  return v;
}

/**
 * validateBody checks an event's type and data as a client publishes them
 * (schemas Event.ValidateBody): the same field and rule ingest would name.
 * It throws an EventValidationError.
 */
export function validateBody(ev: { type?: unknown; data?: unknown }): void {
  const b = enc.encode(JSON.stringify({ type: ev.type ?? "", data: ev.data ?? null }));
  const v = parseBytes(b) as Extract<JValue, { k: "obj" }>;
  const typ = v.entries[0][1];
  if (typ.k !== "str") throw new EventValidationError("type", "type", `expected a string, got ${KIND_NAME[typ.k]}`);
  const lone = firstLone(v);
  if (lone >= 0) throw new EventValidationError(jsonPathAt(b, lone), "utf8", `escaped lone surrogate at byte ${lone}`);
  if (typ.v.startsWith("custom.")) {
    // A custom type: its schema is the deployment's, checked by the server.
    if (!CUSTOM_TYPE.test(typ.v)) throw new EventValidationError("type", "enum", `custom type ${JSON.stringify(truncate(typ.v, 40))} is not custom. and 1-41 of a-z 0-9 _ -`);
    const data = v.entries[1][1];
    if (data === undefined || data.k === "null") throw new EventValidationError("data", "required", "data is missing");
    if (data.k !== "obj") throw new EventValidationError("data", "type", `expected an object, got ${KIND_NAME[data.k]}`);
    return;
  }
  bodyOf(typ.v, v.entries[1][1]);
}

/**
 * parseEvent decodes and validates one complete event as stored in Kafka
 * (schemas.ParseEvent), from its bytes or text. It throws an
 * EventValidationError naming the field and the rule, exactly as the Go
 * code does for the golden vectors of schemas/testdata/vectors.
 */
export function parseEvent(raw: string | Uint8Array): Event {
  const b = typeof raw === "string" ? enc.encode(raw) : raw;
  if (b.length > LIMITS.maxEventBytes) throw new EventValidationError("", "size", `event is ${b.length} bytes, the limit is ${LIMITS.maxEventBytes}`);
  const v = parseBytes(b);
  const env = decodeObject(v, ENVELOPE_FIELDS, "");
  const lone = firstLone(v);
  if (lone >= 0) throw new EventValidationError(jsonPathAt(b, lone), "utf8", `escaped lone surrogate at byte ${lone}`);
  const dup = firstDuplicate(v);
  if (dup !== undefined) throw new EventValidationError(dup, "json", "duplicate key: a key may appear once per object");
  const ver = (env.v as number | undefined) ?? 0;
  if (ver !== SCHEMA_VERSION) {
    if (ver === 0) throw new EventValidationError("v", "required", "schema version is missing");
    throw new EventValidationError("v", "version", `schema version ${ver} is not supported (this build reads ${SCHEMA_VERSION})`);
  }
  const id = (env.id as string | undefined) ?? "";
  const room = (env.room as string | undefined) ?? "";
  const user = (env.user as string | undefined) ?? "";
  const ts = (env.ts as number | undefined) ?? 0;
  checkID(id);
  checkRoom(room);
  checkText("user", user, 1, LIMITS.maxUserLen, true);
  if (ts === 0) throw new EventValidationError("ts", "required", "ts is missing");
  if (ts < 0) throw new EventValidationError("ts", "range", "ts must be a positive Unix time in milliseconds");
  const type = (env.type as string | undefined) ?? "";
  const data = bodyOf(type, env.data as JValue | undefined);
  return { v: ver, id, room, user, type, ts, data } as unknown as Event;
}
