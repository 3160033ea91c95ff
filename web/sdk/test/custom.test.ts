import { describe, expect, it } from "vitest";
import { applyDelta, customBars, newRoomState, normalizeDelta } from "../src/state.js";
import { EventValidationError, validateBody } from "../src/events.js";

describe("custom types", () => {
  it("fold: counts add, values replace, fold/title/keys with the first frame", () => {
    const s = newRoomState();
    applyDelta(s, normalizeDelta({ custom: { "custom.hype": { fold: "counter", title: "Hype", keys: ["fire", "wow"], counts: { fire: 2 } } } }));
    applyDelta(s, normalizeDelta({ custom: { "custom.hype": { counts: { fire: 1, clap: 4 } }, "custom.song": { fold: "register", values: { next: "Jolene" } } } }));
    applyDelta(s, normalizeDelta({ custom: { "custom.song": { values: { next: { title: "Africa" } } } } }));
    expect(s.custom).toEqual({
      "custom.hype": { fold: "counter", title: "Hype", keys: ["fire", "wow"], counts: { fire: 3, clap: 4 } },
      "custom.song": { fold: "register", values: { next: { title: "Africa" } } },
    });
    // Registered keys first (a bar at 0 included), then the rest by count.
    expect(customBars(s.custom!["custom.hype"])).toEqual([
      { key: "fire", count: 3 },
      { key: "wow", count: 0 },
      { key: "clap", count: 4 },
    ]);
    expect(customBars(s.custom!["custom.song"])).toEqual([{ key: "next", count: 0, value: { title: "Africa" } }]);
  });
  it("a null custom entry is refused like other null entries", () => {
    expect(() => normalizeDelta({ custom: { "custom.x": null as never } })).toThrow(/delta.custom.custom.x/);
  });
  it("publish checks a custom type's name and that data is an object; the schema is the server's", () => {
    expect(() => validateBody({ type: "custom.hype", data: { level: "fire", anything: [1, 2] } })).not.toThrow();
    const fails = (type: string, data: unknown, field: string) => {
      try {
        validateBody({ type, data });
      } catch (e) {
        expect((e as EventValidationError).field).toBe(field);
        return;
      }
      throw new Error(`${type} accepted`);
    };
    fails("custom.Hype", {}, "type");
    fails("custom.", {}, "type");
    fails("custom.hype", null, "data");
    fails("custom.hype", [1], "data");
  });
});
