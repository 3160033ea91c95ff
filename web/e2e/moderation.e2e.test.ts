// Moderation in the browser, end to end against a real `ovation dev`: a
// moderator bans a user from the host console; that user's socket leaves
// the room (unsubscribed, code banned) and the page says so, the user's
// next message is refused with code banned, and no other page ever shows
// it. Slow mode set from the console shows its countdown on the audience
// page, and a second line inside it is refused with slow_mode. A question
// held for review reaches the audience only once approved from the
// console's pending list; a rejected one never. A ban "everywhere" from
// the console (the deployment room) refuses the user's next message in
// another room, ends their subscription there, and no page shows it.

import { afterAll, beforeAll, expect, it } from "vitest";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDev } from "./server.js";
import type { DevServer } from "./server.js";

const OUT = fileURLToPath(new URL("./test-output/", import.meta.url));
const ROOM = `mod-${Date.now().toString(36)}`;

let dev: DevServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
let host: Page, troll: Page, ann: Page;

async function open(path: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(ctx);
  const p = await ctx.newPage();
  p.on("pageerror", (e) => console.error(`[${path}] page error: ${e.message}`));
  await p.goto(`${dev.base}${path}`);
  await p.locator("[data-testid=status][data-status=open]").waitFor({ timeout: 15_000 });
  // Every chat text the page's state ever held, not only the last state.
  await p.evaluate(() => {
    const w = window as unknown as { seenTexts: string[]; ovation: { room: { on(e: string, f: (st: { chat: { text: string }[] }) => void): void } } };
    w.seenTexts = [];
    w.ovation.room.on("state", (st) => {
      for (const l of st.chat) if (!w.seenTexts.includes(l.text)) w.seenTexts.push(l.text);
    });
  });
  return p;
}

const chatTexts = (p: Page): Promise<string[]> =>
  p.evaluate(() => (window as unknown as { ovation: { room: { state: { chat: { text: string }[] } } } }).ovation.room.state.chat.map((l) => l.text));
const seenTexts = (p: Page): Promise<string[]> => p.evaluate(() => (window as unknown as { seenTexts: string[] }).seenTexts);

// publishChat publishes through the page's SDK and returns the refusal's
// code and retry_after, or "accepted".
const publishChat = (p: Page, text: string): Promise<{ code: string; retryAfter?: number }> =>
  p.evaluate(async (text) => {
    const o = (window as unknown as { ovation: { room: { publish(e: object): Promise<unknown> } } }).ovation;
    try {
      await o.room.publish({ type: "chat.message", data: { text } });
      return { code: "accepted" };
    } catch (err) {
      const e = err as { code?: string; retryAfter?: number; message: string };
      return { code: e.code ?? e.message, retryAfter: e.retryAfter };
    }
  }, text);

async function say(p: Page, text: string): Promise<void> {
  await p.getByTestId("chat-input").fill(text);
  await p.getByTestId("chat-input").press("Enter");
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  dev = await startDev({
    httpAddr: process.env.OVATION_E2E_MOD_HTTP_ADDR ?? "127.0.0.1:18483",
    kafkaAddr: process.env.OVATION_E2E_MOD_KAFKA_ADDR ?? "127.0.0.1:19483",
  });
  browser = await chromium.launch({
    executablePath: process.env.OVATION_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  host = await open(`/host?room=${ROOM}&user=e2e-mod&name=Mod`);
  troll = await open(`/?room=${ROOM}&user=e2e-troll&name=Troll`);
  ann = await open(`/?room=${ROOM}&user=e2e-ann&name=Ann`);
});

afterAll(async () => {
  for (const [name, p] of [["mod-host", host], ["mod-banned", troll], ["mod-audience", ann]] as const) {
    await p?.screenshot({ path: `${OUT}${name}.png`, fullPage: true }).catch(() => {});
  }
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await dev?.stop();
});

it("a ban from the host console refuses the user's next message, ends their subscription, and no page shows it", async () => {
  await say(troll, "buy cheap followers");
  for (const p of [host, troll, ann]) await expect.poll(() => chatTexts(p), { timeout: 15_000 }).toContain("buy cheap followers");

  await host.locator("li.chat-line", { hasText: "buy cheap followers" }).getByTestId("ban").click();
  // The banned page learns it from the frame, then from the unsubscribe.
  await expect.poll(() => troll.getByTestId("banned").isVisible(), { timeout: 15_000 }).toBe(true);
  expect(await troll.getByTestId("banned").textContent()).toContain("banned");
  // hide: the line leaves every page; the console lists the sanction.
  for (const p of [host, ann]) await expect.poll(() => chatTexts(p), { timeout: 15_000 }).not.toContain("buy cheap followers");
  await expect.poll(() => host.getByTestId("sanctions").textContent()).toContain("e2e-troll");

  // Ingest's view follows the frames; give it a moment, then the next
  // message is refused with the documented code.
  await new Promise((r) => setTimeout(r, 1000));
  expect(await publishChat(troll, "i am back")).toEqual({ code: "banned", retryAfter: undefined });

  // Others go on: ann's line reaches the host and ann, not the banned
  // page, whose subscription ended.
  await say(ann, "hello everyone");
  for (const p of [host, ann]) await expect.poll(() => chatTexts(p), { timeout: 15_000 }).toContain("hello everyone");
  await new Promise((r) => setTimeout(r, 1000));
  expect(await chatTexts(troll)).not.toContain("hello everyone");
  for (const p of [host, ann]) expect(await seenTexts(p)).not.toContain("i am back");

  // A pinned line shows above the chat on the audience page.
  await host.locator("li.chat-line", { hasText: "hello everyone" }).getByTestId("pin").click();
  await expect.poll(() => ann.getByTestId("pinned").textContent(), { timeout: 15_000 }).toContain("Ann: hello everyone");

  // A masking word filter, set from the console, stars the word out on
  // every page; the list itself never reaches a page.
  await host.getByTestId("filter-words").fill("idiot, spam");
  await host.getByTestId("filter-action").selectOption("mask");
  await host.getByTestId("apply-filter").click();
  await new Promise((r) => setTimeout(r, 1000));
  await say(ann, "what an ＩＤＩＯＴ");
  for (const p of [host, ann]) await expect.poll(() => chatTexts(p), { timeout: 15_000 }).toContain("what an *****");
  for (const p of [host, ann]) expect(await seenTexts(p)).not.toContain("what an ＩＤＩＯＴ");
  expect(JSON.stringify(await ann.evaluate(() => (window as unknown as { ovation: { room: { state: unknown } } }).ovation.room.state))).not.toContain("spam");
}, 120_000);

it("slow mode set from the console counts down on the audience page and refuses a second line", async () => {
  await host.getByTestId("slow-mode").fill("30");
  await host.getByTestId("apply-controls").click();
  await expect.poll(() => ann.getByTestId("controls").textContent(), { timeout: 15_000 }).toContain("Slow mode: one message every 30 s");
  await new Promise((r) => setTimeout(r, 1000));
  await say(ann, "first in slow mode");
  await expect.poll(() => ann.getByTestId("slow-countdown").textContent(), { timeout: 15_000 }).toMatch(/you can send again in \d+ s/);
  const second = await publishChat(ann, "second in slow mode");
  expect(second.code).toBe("slow_mode");
  expect(second.retryAfter).toBeGreaterThan(0);
  expect(second.retryAfter).toBeLessThanOrEqual(30);
  await expect.poll(() => chatTexts(host), { timeout: 15_000 }).toContain("first in slow mode");
  await new Promise((r) => setTimeout(r, 1000));
  for (const p of [host, ann]) expect(await seenTexts(p)).not.toContain("second in slow mode");
}, 120_000);

const questionTexts = (p: Page): Promise<string[]> =>
  p.evaluate(() => Object.values((window as unknown as { ovation: { room: { state: { questions: Record<string, { text: string }> } } } }).ovation.room.state.questions).map((q) => q.text));

it("a held question appears only after approval; a rejected one never", async () => {
  await host.getByTestId("slow-mode").fill("0");
  await host.getByTestId("hold-questions").check();
  await host.getByTestId("apply-controls").click();
  await expect.poll(() => ann.getByTestId("controls").textContent(), { timeout: 15_000 }).toContain("Questions are moderated");
  // Every question text the audience page's state ever held.
  await ann.evaluate(() => {
    const w = window as unknown as { seenQs: string[]; ovation: { room: { on(e: string, f: (st: { questions: Record<string, { text: string }> }) => void): void } } };
    w.seenQs = [];
    w.ovation.room.on("state", (st) => {
      for (const q of Object.values(st.questions)) if (!w.seenQs.includes(q.text)) w.seenQs.push(q.text);
    });
  });
  const seenQs = (): Promise<string[]> => ann.evaluate(() => (window as unknown as { seenQs: string[] }).seenQs);

  for (const text of ["Will the slides be shared?", "Is this a scam?"]) {
    await ann.getByTestId("qa-input").fill(text);
    await ann.getByTestId("qa-input").press("Enter");
  }
  // Both wait in the console's pending list, not in any room.
  await expect.poll(() => host.getByTestId("pending").textContent(), { timeout: 15_000 }).toContain("Will the slides be shared?");
  await expect.poll(() => host.getByTestId("pending").textContent(), { timeout: 15_000 }).toContain("Is this a scam?");
  await new Promise((r) => setTimeout(r, 1000));
  for (const p of [host, ann]) expect(await questionTexts(p)).toEqual([]);
  expect(await seenQs()).toEqual([]);
  // The queue is not in what the audience page receives.
  expect(JSON.stringify(await ann.evaluate(() => (window as unknown as { ovation: { room: { state: unknown } } }).ovation.room.state))).not.toContain("slides");

  await host.locator("[data-testid=pending-item]", { hasText: "Is this a scam?" }).getByTestId("reject").click();
  await host.locator("[data-testid=pending-item]", { hasText: "Will the slides be shared?" }).getByTestId("approve").click();
  for (const p of [host, ann]) await expect.poll(() => questionTexts(p), { timeout: 15_000 }).toEqual(["Will the slides be shared?"]);
  await expect.poll(() => host.getByTestId("pending-count").textContent(), { timeout: 15_000 }).toBe("0 waiting");
  await new Promise((r) => setTimeout(r, 1000));
  expect(await seenQs()).toEqual(["Will the slides be shared?"]);
  expect(await questionTexts(ann)).toEqual(["Will the slides be shared?"]);
  await expect.poll(() => host.getByTestId("total-questions").textContent()).toBe("1");
}, 120_000);

it("a ban everywhere from the host console refuses the user's next message in another room, ends their subscription there, and no page shows it", async () => {
  const OTHER = `${ROOM}-other`;
  const eveHere = await open(`/?room=${ROOM}&user=e2e-eve&name=Eve`);
  const eve = await open(`/?room=${OTHER}&user=e2e-eve&name=Eve`);
  const bob = await open(`/?room=${OTHER}&user=e2e-bob&name=Bob`);
  await say(eveHere, "eve was here");
  await expect.poll(() => chatTexts(host), { timeout: 15_000 }).toContain("eve was here");
  await say(eve, "hello from the other room");
  for (const p of [eve, bob]) await expect.poll(() => chatTexts(p), { timeout: 15_000 }).toContain("hello from the other room");

  // The moderator bans eve everywhere from this room's console.
  await host.getByTestId("everywhere").check();
  await host.locator("li.chat-line", { hasText: "eve was here" }).getByTestId("ban").click();
  await expect.poll(() => host.getByTestId("dep-sanctions").textContent(), { timeout: 15_000 }).toContain("e2e-eve");
  // In the other room, eve's socket leaves the room (unsubscribed,
  // banned) and her page says so.
  await expect.poll(() => eve.getByTestId("banned").isVisible(), { timeout: 15_000 }).toBe(true);
  expect(await eve.getByTestId("banned").textContent()).toContain("everywhere");
  // Her next message there is refused with the documented code.
  await new Promise((r) => setTimeout(r, 1000));
  expect(await publishChat(eve, "can anyone hear me")).toEqual({ code: "banned", retryAfter: undefined });
  // Others go on; no page ever shows her message, and hers gets no more frames.
  await say(bob, "bob is still here");
  await expect.poll(() => chatTexts(bob), { timeout: 15_000 }).toContain("bob is still here");
  await new Promise((r) => setTimeout(r, 1000));
  expect(await chatTexts(eve)).not.toContain("bob is still here");
  for (const p of [bob, host, ann]) expect(await seenTexts(p)).not.toContain("can anyone hear me");
  await eve.screenshot({ path: `${OUT}mod-banned-everywhere.png`, fullPage: true }).catch(() => {});

  // Unbanned everywhere from the console: eve may publish again.
  await host.getByTestId("unban-everywhere").click();
  await expect.poll(() => host.getByTestId("dep-sanctions").textContent(), { timeout: 15_000 }).not.toContain("e2e-eve");
  await host.getByTestId("everywhere").uncheck();
  await expect.poll(() => publishChat(eveHere, "back again"), { timeout: 15_000, interval: 1000 }).toEqual({ code: "accepted" });
  await expect.poll(() => chatTexts(host), { timeout: 15_000 }).toContain("back again");
}, 120_000);
