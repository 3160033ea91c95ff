// `ovation dev --audience N`: a newcomer opens the page and sees it move
// before clicking anything: simulated viewers join (and count), react,
// chat and vote in the poll the simulated host opens.

import { afterAll, beforeAll, expect, it } from "vitest";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDev } from "./server.js";
import type { DevServer } from "./server.js";

const OUT = fileURLToPath(new URL("./test-output/", import.meta.url));
const N = 6;

let dev: DevServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  dev = await startDev({
    httpAddr: process.env.OVATION_E2E_AUDIENCE_HTTP_ADDR ?? "127.0.0.1:18481",
    kafkaAddr: process.env.OVATION_E2E_AUDIENCE_KAFKA_ADDR ?? "127.0.0.1:19481",
    audience: N,
  });
  browser = await chromium.launch({
    executablePath: process.env.OVATION_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${dev.base}/`);
});

afterAll(async () => {
  await page?.screenshot({ path: `${OUT}simulated-audience.png`, fullPage: true }).catch(() => {});
  await browser?.close().catch(() => {});
  await dev?.stop();
});

it(`shows ${N} simulated viewers reacting, chatting and voting`, async () => {
  type S = { viewers: number; reactions: number; chat: number; votes: number; polls: number; users: string[] };
  const read = (): Promise<S> => page.evaluate(() => {
    const st = (window as unknown as { ovation: { room: { state: { viewers: number; totals: { reactions: number; chat: number; votes: number }; polls: object; chat: { user: string }[] } } } }).ovation.room.state;
    return { viewers: st.viewers, reactions: st.totals.reactions, chat: st.totals.chat, votes: st.totals.votes, polls: Object.keys(st.polls).length, users: [...new Set(st.chat.map((l) => l.user))] };
  });
  // The viewers arrive over the first N seconds and act every 1–9 s; the
  // simulated host opens a poll once it has seen the room.
  await expect.poll(read, { timeout: 60_000, interval: 500 }).toMatchObject({
    // N simulated viewers and this page.
    viewers: N + 1,
    reactions: expect.toSatisfy((n: number) => n > 0),
    chat: expect.toSatisfy((n: number) => n > 0),
    votes: expect.toSatisfy((n: number) => n > 0),
    polls: 1,
  });
  const s = await read();
  expect(s.users.every((u) => u.startsWith("sim-"))).toBe(true);
  await expect.poll(() => page.locator("#poll .option").count()).toBeGreaterThan(1);
  await expect.poll(() => page.getByTestId("viewers").textContent()).not.toBe("0");
}, 120_000);
