import { describe, expect, it } from "vitest";
import { applyDelta, CHAT_HISTORY, newRoomState } from "../src/state.js";
import type { ChatLine } from "../src/state.js";

const line = (id: string, text = id): ChatLine => ({ id, user: "u-" + id, text, ts: 1 });

describe("applyDelta (port of schemas RoomState.Apply)", () => {
  it("adds reactions, votes, upvotes, answers and totals", () => {
    const s = newRoomState();
    applyDelta(s, {
      reactions: { "👏": 2 },
      polls: { p1: { question: "Best?", options: ["a", "b", "c"], votes: [1, 0, 2] } },
      questions: { q1: { user: "ann", text: "Why?", ts: 5, upvotes: 1 } },
      quizzes: { z1: { question: "2+2", options: ["3", "4"], points: 10, answers: 1 } },
      totals: { reactions: 2, votes: 3, questions: 1, upvotes: 1, answers: 1 },
    });
    applyDelta(s, {
      reactions: { "👏": 3, "🔥": 1 },
      polls: { p1: { votes: [-1, 1] } },
      questions: { q1: { upvotes: 2, answered: true } },
      quizzes: { z1: { answers: 2, revealed: true, correct: 1 } },
      totals: { reactions: 4, votes: 1, upvotes: 2, answers: 2 },
    });
    expect(s.reactions).toEqual({ "👏": 5, "🔥": 1 });
    expect(s.polls.p1).toEqual({ question: "Best?", options: ["a", "b", "c"], votes: [0, 1, 2], closed: false });
    expect(s.questions.q1).toEqual({ user: "ann", text: "Why?", ts: 5, upvotes: 3, answered: true });
    expect(s.quizzes.z1).toEqual({ question: "2+2", options: ["3", "4"], points: 10, answers: 3, revealed: true, correct: 1 });
    expect(s.totals).toEqual({ chat: 0, reactions: 6, votes: 4, questions: 1, upvotes: 3, answers: 3 });
  });

  it("latches closed/answered/revealed and pads votes to the options", () => {
    const s = newRoomState();
    applyDelta(s, { polls: { p: { votes: [0, 0, 0, 1] } } });
    expect(s.polls.p.votes).toEqual([0, 0, 0, 1]);
    applyDelta(s, { polls: { p: { question: "late open", options: ["a", "b", "c", "d", "e"] } } });
    expect(s.polls.p.votes).toEqual([0, 0, 0, 1, 0]);
    applyDelta(s, { polls: { p: { closed: true } } });
    applyDelta(s, { polls: { p: { closed: false, votes: [1] } } });
    expect(s.polls.p.closed).toBe(true);
    expect(s.polls.p.votes).toEqual([1, 0, 0, 1, 0]);
  });

  it("appends chat, then deletes, then keeps the newest CHAT_HISTORY lines", () => {
    const s = newRoomState();
    applyDelta(s, { chat: [line("a"), line("b")] });
    // A line sent and deleted inside one delta never shows.
    applyDelta(s, { chat: [line("c"), line("d")], chat_deleted: ["a", "c"] });
    expect(s.chat.map((l) => l.id)).toEqual(["b", "d"]);
    const many = Array.from({ length: CHAT_HISTORY + 5 }, (_, i) => line("m" + i));
    applyDelta(s, { chat: many });
    expect(s.chat).toHaveLength(CHAT_HISTORY);
    expect(s.chat[0].id).toBe("m5");
    expect(s.chat[CHAT_HISTORY - 1].id).toBe("m" + (CHAT_HISTORY + 4));
  });

  it("replaces leaderboard and viewers only when present", () => {
    const s = newRoomState();
    applyDelta(s, { viewers: 7, leaderboard: [{ user: "a", score: 3, last_ts: 1 }] });
    applyDelta(s, { reactions: { x: 1 } });
    expect(s.viewers).toBe(7);
    expect(s.leaderboard).toEqual([{ user: "a", score: 3, last_ts: 1 }]);
    applyDelta(s, { viewers: 0, leaderboard: [] });
    expect(s.viewers).toBe(0);
    expect(s.leaderboard).toEqual([]);
  });

  it("keeps ids and emoji that are Object.prototype names", () => {
    const s = newRoomState();
    applyDelta(s, { reactions: { __proto__: 1, constructor: 2 } as Record<string, number> });
    applyDelta(s, JSON.parse('{"reactions":{"__proto__":2},"polls":{"__proto__":{"question":"q","options":["a","b"],"votes":[1]}}}'));
    expect(Object.entries(s.reactions).sort()).toEqual([["__proto__", 2], ["constructor", 2]].sort());
    expect(Object.getPrototypeOf(s.reactions)).toBe(Object.prototype);
    expect(Object.entries(s.polls)).toEqual([["__proto__", { question: "q", options: ["a", "b"], votes: [1, 0], closed: false }]]);
  });
});
