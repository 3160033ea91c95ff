// The public room state model and the one definition of what a delta means.
// This file is a line-for-line port of schemas/state.go (RoomState.Apply):
// if the two ever disagree, the Go file wins and this one is the bug. The
// golden vectors in schemas/testdata/vectors/frames.json are folded by both
// and must give the same state.

/** ChatHistory is how many chat lines a room state keeps (schemas.ChatHistory). */
export const CHAT_HISTORY = 100;

/** LEADERBOARD_SIZE is how many rows the quiz leaderboard holds (schemas.LeaderboardSize). */
export const LEADERBOARD_SIZE = 10;

/** ChatLine is one chat message as viewers see it; its id is the event id. */
export interface ChatLine {
  id: string;
  user: string;
  name?: string;
  text: string;
  ts: number;
}

/**
 * Poll is a poll's public state (schemas.Poll). For a single-choice poll
 * votes[i] counts the current voters of option i. The kinds of issue 16
 * (PollKindState; absent on single-choice polls):
 *  - multi: votes[i] counts the voters whose pick holds option i; voters
 *    counts the voters with a pick;
 *  - ranking: votes[i] is option i's Borda score (position p of a ballot
 *    over n options scores n-1-p); ranks[i][p] counts the ballots with
 *    option i at position p;
 *  - rating: votes[j] counts the ratings lo+j of the scale (pollMean);
 *  - text: voters counts the answers; texts holds the latest
 *    POLL_TEXT_WINDOW, oldest first.
 */
export interface Poll extends PollKindState {
  question: string;
  options: string[];
  votes: number[];
  closed: boolean;
}

/** POLL_TEXT_WINDOW is how many open-text answers a poll keeps (schemas.PollTextWindow). */
export const POLL_TEXT_WINDOW = 10;

/** PollText is one open-text answer in a poll's state. */
export interface PollText {
  user: string;
  text: string;
  ts: number;
}

/** PollKindState is what the poll kinds add to a poll and a poll delta. */
/** WordCount is one word of a cloud poll with the number of users who wrote it. */
export interface WordCount {
  word: string;
  count: number;
}

export interface PollKindState {
  kind?: "single" | "multi" | "ranking" | "rating" | "text" | "cloud";
  max_picks?: number;
  scale?: "1-5" | "1-10" | "nps";
  voters?: number;
  ranks?: (number[] | null)[] | null;
  texts?: PollText[] | null;
  /** words: a cloud poll's top 50 words (count descending, then word); a delta's list replaces it. */
  words?: WordCount[] | null;
  /** stop_words: a cloud poll's stop-word languages. */
  stop_words?: string[] | null;
  /** closes_at (event time, ms) is set on a timed poll. */
  closes_at?: number;
}

/** pollMean returns a rating poll's mean rating, or undefined without ratings (schemas.PollMean). */
export function pollMean(p: Poll): number | undefined {
  const lo = p.scale === "nps" ? 0 : p.scale === "1-5" || p.scale === "1-10" ? 1 : undefined;
  if (lo === undefined || !p.voters) return undefined;
  let sum = 0;
  p.votes.forEach((n, j) => (sum += (lo + j) * n));
  return sum / p.voters;
}

// pollValues is schemas.PollValues: the counters a poll of kind has.
function pollValues(kind: string | undefined, scale: string | undefined, options: number): number {
  if (kind === "rating") return scale === "1-5" ? 5 : scale === "1-10" ? 10 : 11;
  if (kind === "text" || kind === "cloud") return 0;
  return options;
}

// applyPollKind is schemas applyPollKind: voters and ranks add, texts
// append and keep the latest POLL_TEXT_WINDOW. Absent means zero or
// empty, as the Go encoder omits them.
function applyPollKind(p: PollKindState, d: PollKindState): void {
  const voters = (p.voters ?? 0) + (d.voters ?? 0);
  if (voters !== 0) p.voters = voters;
  else delete p.voters;
  (d.ranks ?? []).forEach((row, i) => {
    p.ranks ??= [];
    while (p.ranks.length <= i) p.ranks.push([]);
    const cur = (p.ranks[i] ??= []);
    (row ?? []).forEach((n, j) => {
      while (cur.length <= j) cur.push(0);
      cur[j] += n;
    });
  });
  if (d.words != null) p.words = d.words.map((w) => ({ ...w }));
  if (d.texts && d.texts.length > 0) {
    p.texts = [...(p.texts ?? []), ...d.texts.map((t) => ({ ...t }))];
    const over = p.texts.length - POLL_TEXT_WINDOW;
    if (over > 0) p.texts.splice(0, over);
  }
}

/** Question is a Q&A question's public state. */
export interface Question {
  user: string;
  text: string;
  ts: number;
  upvotes: number;
  answered: boolean;
}

/** Quiz is a quiz question's public state; correct is set once revealed. */
export interface Quiz {
  question: string;
  options: string[];
  points: number;
  answers: number;
  revealed: boolean;
  correct?: number;
  /** ask_ts and closes_at (event time, ms) are set on a timed question. */
  ask_ts?: number;
  closes_at?: number;
}

/** LeaderEntry is one row of the quiz leaderboard. */
export interface LeaderEntry {
  user: string;
  score: number;
  last_ts: number;
}

/** Totals counts the events that changed the room, by kind. */
export interface Totals {
  chat: number;
  reactions: number;
  votes: number;
  questions: number;
  upvotes: number;
  answers: number;
}

/** Sanction is a ban or timeout of one user in a room (docs/moderation.md). */
export interface Sanction {
  kind: "ban" | "timeout";
  /** until (ms) ends a timeout; a ban has none. */
  until?: number;
  by: string;
  ts: number;
  reason?: string;
}

/** RoomControls are the room's live controls; an absent field is off. */
export interface RoomControls {
  slow_mode?: number;
  chat_off?: boolean;
  reactions_off?: boolean;
  questions_off?: boolean;
  emote_only?: boolean;
  /** hold_chat and hold_questions put chat lines or questions into the pending queue for a moderator. */
  hold_chat?: boolean;
  hold_questions?: boolean;
}

/**
 * HeldItem is one chat line or question in a room's pending queue, as the
 * room's moderator view shows it (docs/moderation.md#hold-for-review):
 * mod.approve with its key puts it into the room, mod.reject drops it.
 */
export interface HeldItem {
  kind: "chat" | "question";
  user: string;
  /** id is the held event's own id. */
  id: string;
  name?: string;
  text: string;
  ts: number;
  /** filtered is set when the room's word filter held it. */
  filtered?: boolean;
}

/** Moderation is a room's public moderation state. */
export interface Moderation {
  controls: RoomControls;
  /** sanctions by user; a timeout whose until has passed no longer applies. */
  sanctions?: Record<string, Sanction> | null;
}

/** ModDelta changes the moderation state: lifted first, then sanctions set, controls replace. */
export interface ModDelta {
  controls?: RoomControls | null;
  sanctions?: Record<string, Sanction> | null;
  lifted?: string[] | null;
}

/**
 * Custom is one custom type's state in a room (docs/custom.md): counts by
 * key (counter, distinct) or the last value by key (register). fold,
 * title and keys come from the deployment's registry with the type's
 * first frame, so a client draws it without the registry.
 */
export interface Custom {
  fold: "counter" | "register" | "distinct" | string;
  title?: string;
  keys?: string[] | null;
  /** key_field and amount_field name the data fields of the key and the amount, to publish one. */
  key_field?: string;
  amount_field?: string;
  counts?: Record<string, number> | null;
  values?: Record<string, unknown> | null;
}

/** CustomDelta is a custom type's change: counts add, values replace by key. */
export interface CustomDelta {
  fold?: string;
  title?: string;
  keys?: string[] | null;
  key_field?: string;
  amount_field?: string;
  counts?: Record<string, number> | null;
  values?: Record<string, unknown> | null;
}

/** RoomState is the public state of a room: what every viewer sees. */
export interface RoomState {
  /** mod is the room's moderation state, absent until a moderator acts. */
  mod?: Moderation | null;
  /** pinned is the chat line a moderator pinned (a copy), if any. */
  pinned?: ChatLine | null;
  reactions: Record<string, number>;
  chat: ChatLine[];
  polls: Record<string, Poll>;
  questions: Record<string, Question>;
  quizzes: Record<string, Quiz>;
  leaderboard: LeaderEntry[];
  viewers: number;
  totals: Totals;
  /** closed is true once a host closed the room (room.close); absent before. */
  closed?: boolean;
  /** custom is the deployment's custom types' state, by type name; absent until one counts. */
  custom?: Record<string, Custom> | null;
  /** held is a moderator view's pending queue, by key (only in ROOM~mod). */
  held?: Record<string, HeldItem> | null;
}

/**
 * PollDelta is a poll's change; votes[i] is the change of option i. kind,
 * max_picks and scale come with the opening (a rating or text poll has no
 * options, so kind marks it); voters and ranks add; texts append.
 */
export interface PollDelta extends PollKindState {
  question?: string;
  options?: string[] | null;
  votes?: number[] | null;
  closed?: boolean;
}

/** QuestionDelta is a question's change; upvotes is the change of its count. */
export interface QuestionDelta {
  user?: string;
  text?: string;
  ts?: number;
  upvotes?: number;
  answered?: boolean;
}

/** QuizDelta is a quiz question's change. */
export interface QuizDelta {
  question?: string;
  options?: string[] | null;
  points?: number;
  answers?: number;
  revealed?: boolean;
  correct?: number | null;
  ask_ts?: number;
  closes_at?: number;
}

/**
 * Delta is the change of a room between two frames. Counters are additive;
 * leaderboard and viewers replace when present. Removals apply first:
 * reactions_removed and questions_removed drop whole entries before the
 * same delta's reactions and questions add.
 */
export interface Delta {
  mod?: ModDelta | null;
  /** unpinned takes the pinned line down before pinned (if present) pins another. */
  unpinned?: boolean;
  pinned?: ChatLine | null;
  reactions?: Record<string, number> | null;
  chat?: ChatLine[] | null;
  chat_deleted?: string[] | null;
  polls?: Record<string, PollDelta> | null;
  questions?: Record<string, QuestionDelta> | null;
  quizzes?: Record<string, QuizDelta> | null;
  leaderboard?: LeaderEntry[] | null;
  viewers?: number | null;
  totals?: Partial<Totals> | null;
  reactions_removed?: string[] | null;
  questions_removed?: string[] | null;
  closed?: boolean;
  custom?: Record<string, CustomDelta> | null;
  /** held adds to a moderator view's pending queue after held_removed takes keys out. */
  held?: Record<string, HeldItem> | null;
  held_removed?: string[] | null;
}

/** Frame is one delta of one room at a gapless seq within epoch. */
export interface Frame {
  room: string;
  epoch: string;
  seq: number;
  /** ts is the newest ingest time (ms) of the events folded into the frame. */
  ts: number;
  delta: Delta;
}

/** Snapshot is a room's full public state after frame seq of epoch. */
export interface Snapshot {
  room: string;
  epoch: string;
  seq: number;
  ts: number;
  state: RoomState;
}

/** newTotals returns zeroed totals. */
export function newTotals(): Totals {
  return { chat: 0, reactions: 0, votes: 0, questions: 0, upvotes: 0, answers: 0 };
}

/** newRoomState returns an empty room state (schemas.NewRoomState). */
export function newRoomState(): RoomState {
  return {
    reactions: {},
    chat: [],
    polls: {},
    questions: {},
    quizzes: {},
    leaderboard: [],
    viewers: 0,
    totals: newTotals(),
  };
}

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

// put sets o[k] as an own property even for k = "__proto__", which is a
// valid emoji and a valid id: plain assignment would silently drop it.
function put<T>(o: Record<string, T>, k: string, v: T): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

// entries iterates a JSON object that may be absent or null, as Go ranges
// over a nil map.
function entries<T>(m: Record<string, T> | null | undefined): [string, T][] {
  return m ? Object.entries(m) : [];
}

/**
 * normalizeState fills whatever a decoded state lacks (schemas ensure()),
 * so a snapshot with missing or null fields is usable. It mutates and
 * returns s.
 */
export function normalizeState(s: Partial<RoomState> | null | undefined): RoomState {
  const st = (s ?? {}) as RoomState;
  st.reactions ??= {};
  st.chat ??= [];
  st.polls ??= {};
  st.questions ??= {};
  st.quizzes ??= {};
  st.leaderboard ??= [];
  st.viewers ??= 0;
  st.totals = { ...newTotals(), ...(st.totals ?? {}) };
  for (const p of Object.values(st.polls)) {
    p.options ??= [];
    p.votes ??= [];
    p.closed ??= false;
  }
  for (const q of Object.values(st.questions)) {
    q.upvotes ??= 0;
    q.answered ??= false;
  }
  for (const z of Object.values(st.quizzes)) {
    z.options ??= [];
    z.answers ??= 0;
    z.revealed ??= false;
  }
  return st;
}

/**
 * applyDelta folds d into s, in place (schemas RoomState.Apply). Removed
 * emoji slots and questions go first; then reactions, votes, upvotes,
 * answers and totals add; closed (poll and room), answered and revealed
 * latch; chat lines append, then deletions remove, then the oldest lines
 * beyond CHAT_HISTORY drop; leaderboard and viewers replace when present.
 */
export function applyDelta(s: RoomState, d: Delta): RoomState {
  normalizeState(s);
  if (d.mod != null) {
    const m: Moderation = s.mod ?? { controls: {} };
    const sanctions: Record<string, Sanction> = { ...(m.sanctions ?? {}) };
    for (const u of d.mod.lifted ?? []) delete sanctions[u];
    for (const [u, sn] of entries(d.mod.sanctions)) put(sanctions, u, { ...sn });
    m.sanctions = Object.keys(sanctions).length > 0 ? sanctions : undefined;
    if (d.mod.controls != null) m.controls = { ...d.mod.controls };
    // "Nothing moderated" has one form, as in schemas applyMod.
    s.mod = m.sanctions === undefined && Object.values(m.controls).every((v) => !v) ? undefined : m;
  }
  for (const e of d.reactions_removed ?? []) delete s.reactions[e];
  for (const id of d.questions_removed ?? []) delete s.questions[id];
  for (const [e, n] of entries(d.reactions)) {
    put(s.reactions, e, (own(s.reactions, e) ? s.reactions[e] : 0) + n);
  }
  for (const [id, pd] of entries(d.polls)) {
    if (pd == null) continue;
    let p = own(s.polls, id) ? s.polls[id] : undefined;
    if (!p) {
      p = { question: "", options: [], votes: [], closed: false };
      put(s.polls, id, p);
    }
    if (pd.options != null || pd.kind) {
      p.question = pd.question ?? "";
      p.options = (pd.options ?? []).slice();
      if (pd.kind) p.kind = pd.kind;
      if (pd.max_picks) p.max_picks = pd.max_picks;
      if (pd.scale) p.scale = pd.scale;
      if (pd.closes_at) p.closes_at = pd.closes_at;
      if (pd.stop_words && pd.stop_words.length > 0) p.stop_words = pd.stop_words.slice();
      const n = pollValues(pd.kind, pd.scale, p.options.length);
      while (p.votes.length < n) p.votes.push(0);
    }
    (pd.votes ?? []).forEach((n, i) => {
      while (p.votes.length <= i) p.votes.push(0);
      p.votes[i] += n;
    });
    applyPollKind(p, pd);
    p.closed = p.closed || !!pd.closed;
  }
  for (const [id, qd] of entries(d.questions)) {
    if (qd == null) continue;
    let q = own(s.questions, id) ? s.questions[id] : undefined;
    if (!q) {
      q = { user: "", text: "", ts: 0, upvotes: 0, answered: false };
      put(s.questions, id, q);
    }
    if (qd.text) {
      q.user = qd.user ?? "";
      q.text = qd.text;
      q.ts = qd.ts ?? 0;
    }
    q.upvotes += qd.upvotes ?? 0;
    q.answered = q.answered || !!qd.answered;
  }
  for (const [id, zd] of entries(d.quizzes)) {
    if (zd == null) continue;
    let z = own(s.quizzes, id) ? s.quizzes[id] : undefined;
    if (!z) {
      z = { question: "", options: [], points: 0, answers: 0, revealed: false };
      put(s.quizzes, id, z);
    }
    if (zd.options != null) {
      z.question = zd.question ?? "";
      z.options = zd.options.slice();
      z.points = zd.points ?? 0;
      if (zd.ask_ts) z.ask_ts = zd.ask_ts;
      if (zd.closes_at) z.closes_at = zd.closes_at;
    }
    z.answers += zd.answers ?? 0;
    if (zd.revealed) {
      z.revealed = true;
      if (zd.correct != null) z.correct = zd.correct;
    }
  }
  if (d.chat) s.chat.push(...d.chat.map((l) => ({ ...l })));
  if (d.chat_deleted && d.chat_deleted.length > 0) {
    const del = new Set(d.chat_deleted);
    s.chat = s.chat.filter((l) => !del.has(l.id));
  }
  const over = s.chat.length - CHAT_HISTORY;
  if (over > 0) s.chat.splice(0, over);
  if (d.leaderboard != null) s.leaderboard = d.leaderboard.map((e) => ({ ...e }));
  if (d.viewers != null) s.viewers = d.viewers;
  const t = d.totals;
  if (t != null) {
    s.totals.chat += t.chat ?? 0;
    s.totals.reactions += t.reactions ?? 0;
    s.totals.votes += t.votes ?? 0;
    s.totals.questions += t.questions ?? 0;
    s.totals.upvotes += t.upvotes ?? 0;
    s.totals.answers += t.answers ?? 0;
  }
  if (d.closed) s.closed = true;
  if (d.unpinned) s.pinned = undefined;
  if (d.pinned != null) s.pinned = { ...d.pinned };
  for (const [name, cd] of entries(d.custom)) {
    if (cd == null) continue;
    s.custom ??= {};
    let c = own(s.custom, name) ? s.custom[name] : undefined;
    if (!c) {
      c = { fold: "" };
      put(s.custom, name, c);
    }
    if (cd.fold) {
      c.fold = cd.fold;
      if (cd.title) c.title = cd.title;
      else delete c.title;
      if (cd.keys && cd.keys.length > 0) c.keys = cd.keys.slice();
      else delete c.keys;
      if (cd.key_field) c.key_field = cd.key_field;
      else delete c.key_field;
      if (cd.amount_field) c.amount_field = cd.amount_field;
      else delete c.amount_field;
    }
    for (const [k, n] of entries(cd.counts)) {
      c.counts ??= {};
      put(c.counts, k, (own(c.counts, k) ? c.counts[k] : 0) + n);
    }
    for (const [k, v] of entries(cd.values)) {
      c.values ??= {};
      put(c.values, k, structuredClone(v));
    }
  }
  if ((d.held_removed?.length ?? 0) > 0 || (d.held != null && Object.keys(d.held).length > 0)) {
    const held: Record<string, HeldItem> = { ...(s.held ?? {}) };
    for (const k of d.held_removed ?? []) delete held[k];
    for (const [k, h] of entries(d.held)) put(held, k, { ...h });
    s.held = Object.keys(held).length > 0 ? held : undefined;
  }
  return s;
}

/**
 * customBars lists a custom type's entries in display order (its
 * registered keys first, then the others by count descending, then key),
 * for UIs that draw a bar per key. For a register, value is the JSON
 * value and count is 0.
 */
export function customBars(c: Custom): { key: string; count: number; value?: unknown }[] {
  const counts = c.counts ?? {};
  const values = c.values ?? {};
  const keys = new Set<string>([...(c.keys ?? []), ...Object.keys(counts), ...Object.keys(values)]);
  const listed = new Set(c.keys ?? []);
  const rest = [...keys].filter((k) => !listed.has(k));
  rest.sort((a, b) => (counts[b] ?? 0) - (counts[a] ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
  return [...(c.keys ?? []), ...rest].map((key) => {
    const e: { key: string; count: number; value?: unknown } = { key, count: own(counts, key) ? counts[key] : 0 };
    if (own(values, key)) e.value = values[key];
    return e;
  });
}

/** cloneState returns a deep copy of s (schemas RoomState.Clone). */
export function cloneState(s: RoomState): RoomState {
  return normalizeState(JSON.parse(JSON.stringify(s)) as RoomState);
}

/**
 * normalizeDelta reads a decoded frame delta the way schemas
 * UnmarshalFrame does: empty collections count as absent (the encoder
 * omits them, so "present but empty" never survives a re-encode; an empty
 * options list must not reset a poll, an empty leaderboard must not clear
 * it), and null entries are rejected. It mutates and returns d.
 */
export function normalizeDelta(d: Delta): Delta {
  const empty = (x: unknown): boolean => x == null || (Array.isArray(x) ? x.length === 0 : Object.keys(x as object).length === 0);
  if (empty(d.reactions)) delete d.reactions;
  if (empty(d.chat)) delete d.chat;
  if (empty(d.chat_deleted)) delete d.chat_deleted;
  if (empty(d.reactions_removed)) delete d.reactions_removed;
  if (empty(d.questions_removed)) delete d.questions_removed;
  if (empty(d.leaderboard)) delete d.leaderboard;
  if (empty(d.custom)) delete d.custom;
  for (const [name, cd] of entries(d.custom)) {
    if (cd == null) throw new Error(`delta.custom.${name}: expected an object, got null`);
    if (empty(cd.keys)) delete cd.keys;
    if (empty(cd.counts)) delete cd.counts;
    if (empty(cd.values)) delete cd.values;
  }
  if (empty(d.held_removed)) delete d.held_removed;
  if (empty(d.held)) delete d.held;
  for (const [k, h] of Object.entries(d.held ?? {})) {
    if (h == null) throw new Error(`delta.held.${k}: expected an object, got null`);
  }
  for (const k of ["polls", "questions", "quizzes"] as const) {
    const m = d[k] as Record<string, PollDelta | QuestionDelta | QuizDelta | null> | null | undefined;
    if (empty(m)) {
      delete d[k];
      continue;
    }
    for (const [id, e] of Object.entries(m!)) {
      if (e == null) throw new Error(`delta.${k}.${id}: expected an object, got null`);
      const o = e as PollDelta & QuizDelta;
      if (k !== "questions" && Array.isArray(o.options) && o.options.length === 0) delete o.options;
      if (k === "polls" && Array.isArray(o.votes) && o.votes.length === 0) delete o.votes;
      if (k === "polls") {
        const pk = e as PollKindState;
        if (Array.isArray(pk.ranks) && pk.ranks.length === 0) delete pk.ranks;
        if (Array.isArray(pk.texts) && pk.texts.length === 0) delete pk.texts;
        if (Array.isArray(pk.words) && pk.words.length === 0) delete pk.words;
        if (Array.isArray(pk.stop_words) && pk.stop_words.length === 0) delete pk.stop_words;
      }
    }
  }
  return d;
}
