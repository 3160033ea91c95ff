// The poll kinds of issue 16 through the demo, as people use them: a host
// console and two audience pages in Chromium against a real `ovation dev`.
// A word cloud counts each word once per person across case, width and
// punctuation; a multiple-choice poll, a ranking and a timed rating poll
// that the processor closes by itself when its time is up.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDev } from "./server.js";
import type { DevServer } from "./server.js";

const OUT = fileURLToPath(new URL("./test-output/", import.meta.url));
const CHROMIUM = process.env.OVATION_CHROMIUM ?? "/usr/bin/chromium";
const ROOM = `e2e-polls-${Date.now().toString(36)}`;

let dev: DevServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
let host: Page, alice: Page, bob: Page;

async function open(path: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(ctx);
  const p = await ctx.newPage();
  p.on("pageerror", (e) => console.error(`[${path}] page error: ${e.message}`));
  await p.goto(`${dev.base}${path}`);
  await p.locator("[data-testid=status][data-status=open]").waitFor({ timeout: 15_000 });
  return p;
}

// openPoll fills the host console's poll form.
async function openPoll(question: string, kind: string, options = "", seconds = 0, scale = "1-5"): Promise<void> {
  await host.getByTestId("poll-question").fill(question);
  await host.getByTestId("poll-options").fill(options);
  await host.getByTestId("poll-kind").selectOption(kind);
  await host.getByTestId("poll-scale").selectOption(scale);
  await host.getByTestId("poll-seconds").fill(String(seconds));
  await host.getByTestId("open-poll").click();
  for (const p of [alice, bob]) await p.locator(`#poll .question:text-is("${question}")`).waitFor({ timeout: 15_000 });
}

// cloud reads the word cloud a page shows.
async function cloud(p: Page): Promise<Record<string, number>> {
  return p.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLElement>("[data-testid=cloud-word]")].map((e) => [e.dataset.word!, Number(e.dataset.count)])));
}

async function eventually(fn: () => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
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
  for (const [name, p] of [["polls-host", host], ["polls-audience", alice]] as const) {
    await p?.evaluate(() => window.scrollTo(0, 0)).catch(() => {});
    await p?.screenshot({ path: `${OUT}${name}.png`, fullPage: true }).catch(() => {});
  }
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await dev?.stop();
});

describe("poll kinds in the demo against ovation dev", () => {
  it("multiple choice: picks toggle and replace", async () => {
    await openPoll("Which talks?", "multi", "Keynote\nPanel\nDemo");
    await alice.locator("#poll .option").nth(0).click();
    await alice.locator("#poll .option").nth(2).click();
    await bob.locator("#poll .option").nth(2).click();
    await alice.locator("#poll .option").nth(0).click(); // un-pick: Alice's pick is now [2]
    await eventually(async () => {
      for (const p of [alice, bob]) {
        expect(await p.locator("[data-testid=poll-votes]").allTextContents()).toEqual(["0", "0", "2"]);
        expect(await p.getByTestId("poll-voters").textContent()).toBe("2");
      }
    });
  });

  it("ranking: Borda points from ballots clicked best first", async () => {
    await openPoll("Order the talks", "ranking", "Keynote\nPanel\nDemo");
    for (const i of [2, 0, 1]) await alice.locator("#poll .option").nth(i).click(); // Demo, Keynote, Panel
    for (const i of [0, 2]) await bob.locator("#poll .option").nth(i).click(); // Keynote, Demo
    // Alice: Demo 2, Keynote 1, Panel 0; Bob: Keynote 2, Demo 1.
    await eventually(async () => {
      for (const p of [alice, bob]) expect(await p.locator("[data-testid=poll-votes]").allTextContents()).toEqual(["3", "0", "3"]);
    });
  });

  it("word cloud: each word once per person across case, width and punctuation", async () => {
    await openPoll("One word for today?", "cloud");
    const say = async (p: Page, text: string) => {
      await p.getByTestId("poll-answer").fill(text);
      await p.getByTestId("poll-answer-send").click();
      await eventually(async () => expect(await p.getByTestId("poll-answer").inputValue()).toBe(""));
    };
    await say(alice, "Great demo!");
    await say(alice, "GREAT, great");
    await say(bob, "ｇｒｅａｔ talk");
    await eventually(async () => {
      for (const p of [alice, bob]) expect(await cloud(p)).toEqual({ great: 2, demo: 1, talk: 1 });
    });
  });

  it("timed rating: the processor closes it when the time is up, and late ratings do not count", async () => {
    await openPoll("How was it?", "rating", "", 4, "1-5");
    await alice.getByTestId("poll-timer").waitFor({ timeout: 5_000 });
    await alice.locator('[data-testid=rate][data-rating="5"]').click();
    await bob.locator('[data-testid=rate][data-rating="4"]').click();
    await eventually(async () => {
      for (const p of [alice, bob]) expect(await p.getByTestId("poll-mean").textContent()).toBe("4.50");
    });
    // Nobody closes it: the timer does. Every page's state says closed
    // with the two ratings, and the host console shows it closed.
    const rating = async (p: Page) => p.evaluate(() => {
      const st = (window as unknown as { ovation: { room: { state: { polls: Record<string, { question: string; closed: boolean; voters?: number; votes: number[] }> } } } }).ovation.room.state;
      const e = Object.values(st.polls).find((x) => x.question === "How was it?")!;
      return { closed: e.closed, voters: e.voters, votes: e.votes };
    });
    await eventually(async () => {
      for (const p of [alice, bob, host]) expect(await rating(p)).toEqual({ closed: true, voters: 2, votes: [0, 0, 0, 1, 1] });
    }, 15_000);
    await host.locator('#polls li[data-kind="rating"] .badge:text-is("closed")').waitFor({ timeout: 5_000 });
    // A rating sent after the close (over HTTP, as a backend would) is
    // refused by ingest (409: closed, or time_up if its view has not read
    // the close yet) and not counted by the processor.
    const pollId = await alice.evaluate(() => {
      const st = (window as unknown as { ovation: { room: { state: { polls: Record<string, { question: string }> } } } }).ovation.room.state;
      return Object.entries(st.polls).find(([, x]) => x.question === "How was it?")![0];
    });
    const r = await fetch(`${dev.base}/v1/rooms/${ROOM}/events?user=e2e-carol`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "poll.rate", data: { poll_id: pollId, rating: 1 } }),
    });
    const body = await r.clone().text();
    expect(r.status, body).toBe(409);
    expect(["closed", "time_up"]).toContain((JSON.parse(body) as { error?: { code?: string } }).error?.code);
    await alice.getByTestId("chat-input").fill("after the close");
    await alice.getByTestId("chat-input").press("Enter");
    await alice.locator("#chat li", { hasText: "after the close" }).waitFor({ timeout: 10_000 });
    expect(await rating(alice)).toEqual({ closed: true, voters: 2, votes: [0, 0, 0, 1, 1] });
  });
});
