// The golden vectors of schemas/testdata/vectors, shared with the Go code:
// valid events decode, invalid ones are refused naming the same field and
// rule as schemas.ParseEvent, and frames fold to the same state as
// schemas RoomState.Apply.

import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EventValidationError, isEmoji, parseEvent, validateBody } from "../src/events.js";
import { applyDelta, newRoomState } from "../src/state.js";
import type { Frame, RoomState } from "../src/state.js";
import { normalizeDelta } from "../src/state.js";

const dir = fileURLToPath(new URL("../../../schemas/testdata/vectors/", import.meta.url));
const load = <T>(name: string): T => JSON.parse(readFileSync(dir + name, "utf8")) as T;

interface Valid { name: string; event: Record<string, unknown> }
interface Invalid { name: string; input?: string; input_b64?: string; field: string; rule: string }
interface Folded { name: string; frames: Frame[]; state: RoomState }

const valid = load<Valid[]>("valid.json");
const invalid = load<Invalid[]>("invalid.json");
const frames = load<Folded[]>("frames.json");
const emoji = load<string[]>("emoji.json");
const emojiRefused = load<string[]>("emoji-refused.json");

describe("golden vectors: valid events", () => {
  it("has vectors", () => expect(valid.length).toBeGreaterThan(10));
  it.each(valid.map((v) => [v.name, v] as const))("%s decodes", (_, v) => {
    const ev = parseEvent(JSON.stringify(v.event));
    expect(ev.type).toBe(v.event.type);
    expect(ev.id).toBe(v.event.id);
    expect(ev.room).toBe(v.event.room);
    // What a client publishes (type and data) passes the client-side check.
    expect(() => validateBody({ type: v.event.type, data: v.event.data })).not.toThrow();
  });
});

describe("golden vectors: invalid events", () => {
  it("has vectors", () => expect(invalid.length).toBeGreaterThan(50));
  it.each(invalid.map((v) => [v.name, v] as const))("%s is refused with the same field and rule", (_, v) => {
    const input = v.input_b64 !== undefined ? new Uint8Array(Buffer.from(v.input_b64, "base64")) : v.input!;
    let err: unknown;
    try {
      parseEvent(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EventValidationError);
    const ve = err as EventValidationError;
    expect({ field: ve.field, rule: ve.rule }).toEqual({ field: v.field, rule: v.rule });
  });
});

describe("golden vectors: frames fold like schemas RoomState.Apply", () => {
  it.each(frames.map((v) => [v.name, v] as const))("%s", (_, v) => {
    const s = newRoomState();
    for (const f of v.frames) applyDelta(s, normalizeDelta(structuredClone(f.delta)));
    expect(s).toEqual(v.state);
  });
});

describe("golden vectors: emoji", () => {
  it("accepts every emoji the Go table accepts", () => {
    expect(emoji.length).toBeGreaterThan(3000);
    const refused = emoji.filter((e) => !isEmoji(e));
    expect(refused).toEqual([]);
  });
  it("refuses every form Go refuses for a missing U+FE0F", () => {
    expect(emojiRefused.length).toBeGreaterThan(200);
    const accepted = emojiRefused.filter((e) => isEmoji(e));
    expect(accepted).toEqual([]);
  });
  it("publishes every emoji as a reaction and as a reaction.remove", () => {
    for (const e of emoji) {
      validateBody({ type: "reaction", data: { emoji: e } });
      validateBody({ type: "reaction.remove", data: { emoji: e } });
    }
  });
  it.each([
    ["text token", "+1"], ["letter", "x"], ["two emoji", "👍👍"], ["unqualified heart", "\u2764"],
    ["skin tone on a face", "😀🏽"], ["flag of no region", "🇦🇦"], ["space", " "],
  ])("refuses %s", (_, e) => {
    expect(isEmoji(e)).toBe(false);
    try {
      validateBody({ type: "reaction", data: { emoji: e } });
      expect.unreachable();
    } catch (err) {
      expect((err as EventValidationError).field).toBe("data.emoji");
      expect((err as EventValidationError).rule).toBe("emoji");
    }
  });
  it("hints at U+FE0F for an unqualified emoji", () => {
    expect(() => validateBody({ type: "reaction", data: { emoji: "\u2764" } })).toThrow(/U\+FE0F/);
  });
});
