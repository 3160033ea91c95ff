// The demo, end to end, as people would use it: a host and two audience
// pages in Chromium against a real `ovation dev`. Every page must show the
// same tallies; a page that was offline for 5 s while others voted must
// come back to exactly the right totals with no chat line twice.

import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDev } from "./server.js";
import type { DevServer } from "./server.js";

const OUT = fileURLToPath(new URL("./test-output/", import.meta.url));
const CHROMIUM = process.env.OVATION_CHROMIUM ?? "/usr/bin/chromium";
const ROOM = `e2e-${Date.now().toString(36)}`;

let dev: DevServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
let host: Page, alice: Page, bob: Page;

interface Seen {
  status: string;
  votes: number[] | null;
  closed: boolean | null;
  reactions: Record<string, number>;
  chat: { id: string; text: string }[];
  totals: Record<string, number>;
  position: { epoch: string; seq: number } | null;
  pending: number;
  connects: number;
  stream: { snapshots: number; gaps: number; duplicates: number; applied: number };
}

// seen reads what a page's SDK holds for the room (the DOM is checked
// separately against it).
async function seen(p: Page): Promise<Seen> {
  return p.evaluate(() => {
    const o = (window as unknown as { ovation: { client: { status: string; pending: number; connects: number }; room: { stream: { snapshots: number; gaps: number; duplicates: number; applied: number }; state: { polls: Record<string, { votes: number[]; closed: boolean }>; reactions: Record<string, number>; chat: { id: string; text: string }[]; totals: Record<string, number> }; position: { epoch: string; seq: number } | null } } }).ovation;
    const st = o.room.state;
    const ids = Object.keys(st.polls).sort();
    const poll = ids.length ? st.polls[ids[ids.length - 1]] : null;
    return {
      status: o.client.status,
      votes: poll ? poll.votes.slice() : null,
      closed: poll ? poll.closed : null,
      reactions: { ...st.reactions },
      chat: st.chat.map((l) => ({ id: l.id, text: l.text })),
      totals: { ...st.totals },
      position: o.room.position,
      pending: o.client.pending,
      connects: o.client.connects,
      stream: { snapshots: o.room.stream.snapshots, gaps: o.room.stream.gaps, duplicates: o.room.stream.duplicates, applied: o.room.stream.applied },
    };
  });
}

// until polls fn over every page until it passes, or fails with the last
// error and what each page held.
async function until(pages: Page[], fn: (s: Seen, i: number) => void, timeoutMs = 20_000): Promise<Seen[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(pages.map(seen));
    try {
      all.forEach(fn);
      return all;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`${(err as Error).message}\npages held:\n${all.map((s) => JSON.stringify(s)).join("\n")}`);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function open(path: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(ctx);
  const p = await ctx.newPage();
  p.on("pageerror", (e) => console.error(`[${path}] page error: ${e.message}`));
  await p.goto(`${dev.base}${path}`);
  await p.locator("[data-testid=status][data-status=open]").waitFor({ timeout: 15_000 });
  return p;
}

// vote publishes a vote as some other person, over HTTP like a backend would.
async function httpPublish(user: string, event: object): Promise<void> {
  const r = await fetch(`${dev.base}/v1/rooms/${ROOM}/events?user=${user}`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(event),
  });
  expect(r.status, await r.clone().text()).toBe(200);
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  dev = await startDev();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  host = await open(`/host?room=${ROOM}&user=e2e-host&name=Host`);
  alice = await open(`/?room=${ROOM}&user=e2e-alice&name=Alice`);
  bob = await open(`/?room=${ROOM}&user=e2e-bob&name=Bob`);
});

afterAll(async () => {
  // Screenshots of every page, whatever the outcome, for a person to look at.
  for (const [name, p] of [["host", host], ["audience-1", alice], ["audience-2", bob]] as const) {
    await p?.evaluate(() => window.scrollTo(0, 0)).catch(() => {});
    await p?.screenshot({ path: `${OUT}${name}.png`, fullPage: true }).catch(() => {});
  }
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await dev?.stop();
});

describe("demo page against ovation dev", () => {
  it("shows the same poll, reactions and chat on every page", async () => {
    await host.getByTestId("poll-question").fill("Which colour?");
    await host.getByTestId("poll-options").fill("Red\nGreen\nBlue");
    await host.getByTestId("open-poll").click();
    for (const p of [alice, bob]) await p.locator("#poll .option").nth(2).waitFor({ timeout: 15_000 });

    await alice.locator("#poll .option").nth(0).click();
    await bob.locator("#poll .option").nth(1).click();
    for (let i = 0; i < 3; i++) await alice.locator('button[data-emoji="👏"]').click();
    for (let i = 0; i < 2; i++) await bob.locator('button[data-emoji="🔥"]').click();
    await alice.getByTestId("chat-input").fill("hello from Alice");
    await alice.getByTestId("chat-input").press("Enter");
    await bob.getByTestId("chat-input").fill("hi from Bob");
    await bob.getByTestId("chat-input").press("Enter");

    const all = await until([host, alice, bob], (s) => {
      expect(s.votes).toEqual([1, 1, 0]);
      expect(s.reactions).toEqual({ "👏": 3, "🔥": 2 });
      expect(s.chat.map((l) => l.text).sort()).toEqual(["hello from Alice", "hi from Bob"]);
      expect(s.totals).toMatchObject({ votes: 2, reactions: 5, chat: 2 });
    });
    // Same order of chat lines everywhere: one total order per room.
    expect(all[1].chat).toEqual(all[0].chat);
    expect(all[2].chat).toEqual(all[0].chat);
    // What the pages show is what the SDK holds.
    for (const p of [alice, bob]) {
      await expect.poll(() => p.locator('[data-testid=reaction-count][data-emoji="👏"]').textContent()).toBe("3");
      await expect.poll(() => p.getByTestId("poll-total").textContent()).toBe("2");
      await expect.poll(() => p.locator("#chat .chat-line").count()).toBe(2);
    }
    await expect.poll(() => host.getByTestId("total-votes").textContent()).toBe("2");
  });

  it("brings a page that was offline for 5 s back to exact totals, each chat line once", async () => {
    const bobCtx = bob.context();
    const before = await seen(bob);
    await bobCtx.setOffline(true);
    // Whatever fails below, Bob comes back for the tests after this one.
    onTestFinished(() => bobCtx.setOffline(false));
    await expect.poll(() => seen(bob).then((s) => s.status), { timeout: 5_000 }).not.toBe("open");
    const wentOffline = Date.now();

    // While Bob is away: he chats and reacts (queued in his page), Alice
    // moves her vote and reacts, and five more people vote over HTTP.
    await bob.getByTestId("chat-input").fill("typed while offline");
    await bob.getByTestId("chat-input").press("Enter");
    await bob.locator('button[data-emoji="🔥"]').click();
    await alice.locator("#poll .option").nth(2).click();
    for (let i = 0; i < 4; i++) await alice.locator('button[data-emoji="👏"]').click();
    const pollId = await alice.locator("#poll .option").first().getAttribute("data-poll");
    const others = [0, 2, 2, 1, 2];
    for (const [i, option] of others.entries()) {
      await httpPublish(`e2e-voter-${i}`, { id: `e2e-vote-${ROOM}-${i}`, type: "poll.vote", data: { poll_id: pollId, option } });
    }
    // Backends retry too: the same vote again is counted once.
    await httpPublish("e2e-voter-0", { id: `e2e-vote-${ROOM}-0`, type: "poll.vote", data: { poll_id: pollId, option: 0 } });
    await until([alice], (s) => expect(s.votes).toEqual([1, 2, 4]));

    // Bob has seen none of it.
    const away = await seen(bob);
    expect(away.status).not.toBe("open");
    expect(away.votes).toEqual(before.votes);
    expect(away.pending).toBe(2);

    await new Promise((r) => setTimeout(r, Math.max(0, 5_000 - (Date.now() - wentOffline))));
    await bobCtx.setOffline(false);

    const all = await until([host, alice, bob], (s) => {
      expect(s.status).toBe("open");
      expect(s.pending).toBe(0);
      // Alice 2, Bob 1, voters 0,2,2,1,2.
      expect(s.votes).toEqual([1, 2, 4]);
      expect(s.reactions).toEqual({ "👏": 7, "🔥": 3 });
      expect(s.chat.map((l) => l.text)).toContain("typed while offline");
      expect(s.totals).toMatchObject({ reactions: 10, chat: 3, votes: 8 });
    }, 30_000);
    for (const s of all) {
      const ids = s.chat.map((l) => l.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(s.chat.filter((l) => l.text === "typed while offline")).toHaveLength(1);
    }
    expect(all[2].chat).toEqual(all[1].chat);
    expect(all[2].position).toEqual(all[1].position);
    // Bob reconnected once and resumed from his position: the missed frames
    // were replayed (no second snapshot), with no gap and no duplicate.
    expect(all[2].connects).toBe(before.connects + 1);
    expect(all[2].stream).toMatchObject({ snapshots: before.stream.snapshots, gaps: 0, duplicates: 0 });
    expect(all[2].stream.applied).toBeGreaterThan(before.stream.applied);
    await expect.poll(() => bob.locator("#chat .chat-line", { hasText: "typed while offline" }).count()).toBe(1);
    await expect.poll(() => bob.getByTestId("poll-total").textContent()).toBe("7");
  });

  it("counts a publish once when the socket drops before its ack", async () => {
    // Publish and cut the socket in the same tick: the event may already be
    // in Kafka, the ack is lost, and the page resends it with the same id.
    const ack = await alice.evaluate(async () => {
      const o = (window as unknown as { ovation: { client: { dropSocket(r?: string): void }; room: { publish(e: object): Promise<{ attempts: number }> } } }).ovation;
      const p = o.room.publish({ type: "chat.message", data: { text: "sent as the socket dropped", name: "Alice" } });
      o.client.dropSocket("test");
      return p;
    });
    // Sent once on the dropped socket, once more (same id) after the reconnect.
    expect(ack.attempts).toBe(2);
    await until([host, alice, bob], (s) => {
      expect(s.chat.filter((l) => l.text === "sent as the socket dropped")).toHaveLength(1);
      expect(s.totals.chat).toBe(4);
    });
  });

  it("runs Q&A, quiz and moderation from the host console", async () => {
    await alice.getByTestId("qa-input").fill("Will the slides be shared?");
    await alice.getByTestId("qa-input").press("Enter");
    await bob.locator("#qa .qa-item .upvote").first().waitFor({ timeout: 15_000 });
    await bob.locator("#qa .qa-item .upvote").first().click();
    await expect.poll(() => alice.locator("#qa .qa-item .upvote b").first().textContent(), { timeout: 15_000 }).toBe("1");
    await host.locator('#qa button[data-action="answered"]').first().click();
    await expect.poll(() => bob.locator("#qa .qa-item.answered").count(), { timeout: 15_000 }).toBe(1);

    await host.locator('#quiz-form input[name="question"]').fill("2 + 2?");
    await host.locator('#quiz-form textarea[name="options"]').fill("3\n*4\n5");
    await host.locator('#quiz-form button[type="submit"]').click();
    await alice.locator("#quiz .option").nth(1).waitFor({ timeout: 15_000 });
    await alice.locator("#quiz .option").nth(1).click();
    await bob.locator("#quiz .option").nth(0).click();
    await expect.poll(() => host.getByTestId("total-answers").textContent(), { timeout: 15_000 }).toBe("2");
    await host.locator('#quizzes button[data-action="reveal"]').first().click();
    for (const p of [alice, bob]) {
      await expect.poll(() => p.locator("#quiz .leaderboard li").allTextContents(), { timeout: 15_000 }).toEqual([expect.stringMatching(/^1.*e2e-alice.*10$/s)]);
      await expect.poll(() => p.locator("#quiz .option.correct").textContent()).toBe("4");
    }

    await host.locator("#polls button[data-action=close-poll]").first().click();
    await until([alice, bob], (s) => expect(s.closed).toBe(true));

    const line = host.locator("#chat .chat-line", { hasText: "hi from Bob" });
    await line.locator('button[data-action="delete"]').click();
    await until([host, alice, bob], (s) => {
      expect(s.chat.map((l) => l.text)).not.toContain("hi from Bob");
      expect(s.chat).toHaveLength(3);
    });
    await expect.poll(() => bob.locator("#chat .chat-line", { hasText: "hi from Bob" }).count()).toBe(0);
  });

  it("delivers a reaction from one page to another in well under a second", async () => {
    // Latency a person sees: Alice clicks, Bob's page has it. Both pages
    // run in one browser, so one clock measures both ends.
    const times: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const start = await alice.evaluate(() => performance.timeOrigin + performance.now());
      const seenAt = bob.evaluate((want) => new Promise<number>((resolve) => {
        const o = (window as unknown as { ovation: { room: { state: { reactions: Record<string, number> }; on(e: string, fn: () => void): () => void } } }).ovation;
        const check = () => (o.room.state.reactions["🎉"] ?? 0) >= want;
        if (check()) return resolve(performance.timeOrigin + performance.now());
        const off = o.room.on("state", () => {
          if (check()) {
            off();
            resolve(performance.timeOrigin + performance.now());
          }
        });
      }), i);
      await alice.locator('button[data-emoji="🎉"]').click();
      times.push((await seenAt) - start);
    }
    times.sort((a, b) => a - b);
    console.log(`reaction click → other page (10 samples): median ${times[5].toFixed(0)} ms, max ${times[9].toFixed(0)} ms`);
    expect(times[5]).toBeLessThan(1_000);
    await until([host, alice, bob], (s) => expect(s.reactions["🎉"]).toBe(10));
  });
});
