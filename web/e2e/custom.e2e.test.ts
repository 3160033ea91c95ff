// Custom types (docs/custom.md) through the demo: `ovation dev` started
// with a --custom-types file registering a "hype meter" counter, a
// "which team" distinct-users type and a "now playing" register. Events
// are published over HTTP by many users, with client retries of the same
// id; the audience page and the host console draw a bar per key with
// exactly the accepted counts, and the register's last value.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDev } from "./server.js";
import type { DevServer } from "./server.js";

const OUT = fileURLToPath(new URL("./test-output/", import.meta.url));
const CHROMIUM = process.env.OVATION_CHROMIUM ?? "/usr/bin/chromium";
const ROOM = `e2e-custom-${Date.now().toString(36)}`;

const REGISTRY = `
types:
  - name: custom.hype
    title: Hype meter
    fold: counter
    key: level
    keys: [fire, clap, wow]
    amount: n
    max_amount: 10
    schema:
      type: object
      properties:
        level: {type: string}
        n: {type: integer, minimum: 1, maximum: 10}
      required: [level, n]
      additionalProperties: false
  - name: custom.team
    title: Which team?
    fold: distinct
    key: team
    keys: [red, blue]
    schema: {type: object, properties: {team: {enum: [red, blue]}}, required: [team]}
  - name: custom.song
    title: Now playing
    fold: register
    key: slot
    value: song
    capability: host
    schema: {type: object, properties: {slot: {type: string}, song: {type: string, maxLength: 80}}, required: [slot, song]}
`;

let dev: DevServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
let host: Page, viewer: Page;

async function open(path: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(ctx);
  const p = await ctx.newPage();
  p.on("pageerror", (e) => console.error(`[${path}] page error: ${e.message}`));
  await p.goto(`${dev.base}${path}`);
  await p.locator("[data-testid=status][data-status=open]").waitFor({ timeout: 15_000 });
  return p;
}

async function post(user: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${dev.base}/v1/rooms/${ROOM}/events?user=${encodeURIComponent(user)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

// counts reads the bars a page draws for one custom type.
async function counts(p: Page, type: string): Promise<Record<string, number>> {
  return p.evaluate((t) => Object.fromEntries([...document.querySelectorAll<HTMLElement>(`[data-testid=custom][data-type="${t}"] [data-testid=custom-count]`)]
    .map((e) => [e.dataset.key!, Number(e.dataset.count)])), type);
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
  const dir = mkdtempSync(join(tmpdir(), "ovation-e2e-custom-"));
  const file = join(dir, "custom-types.yaml");
  writeFileSync(file, REGISTRY);
  dev = await startDev({
    httpAddr: process.env.OVATION_E2E_CUSTOM_HTTP_ADDR ?? "127.0.0.1:18485",
    kafkaAddr: process.env.OVATION_E2E_CUSTOM_KAFKA_ADDR ?? "127.0.0.1:19485",
    args: ["--custom-types", file],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  host = await open(`/host?room=${ROOM}&user=e2e-host&name=Host`);
  viewer = await open(`/?room=${ROOM}&user=e2e-viewer&name=Viewer`);
});

afterAll(async () => {
  for (const [name, p] of [["custom-host", host], ["custom-audience", viewer]] as const) {
    await p?.evaluate(() => window.scrollTo(0, 0)).catch(() => {});
    await p?.screenshot({ path: `${OUT}${name}.png`, fullPage: true }).catch(() => {});
  }
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await dev?.stop();
});

describe("custom types in the demo against ovation dev", () => {
  it("a hype meter counts exactly the accepted amounts, retries once; a team counts people once", async () => {
    const want: Record<string, number> = { fire: 0, clap: 0, wow: 0 };
    const levels = ["fire", "clap", "wow"];
    for (let u = 0; u < 20; u++) {
      const batch = [];
      for (let i = 0; i < 5; i++) {
        const level = levels[(u + i) % 3];
        const n = ((u * 7 + i) % 10) + 1;
        want[level] += n;
        batch.push({ id: `h-${u}-${i}`, type: "custom.hype", data: { level, n } });
      }
      expect((await post(`fan-${u}`, batch)).status).toBe(200);
      // A client retry of the same ids changes nothing.
      expect((await post(`fan-${u}`, batch.slice(0, 2))).status).toBe(200);
    }
    // Refused by the type's schema and keys: nothing counts.
    expect((await post("fan-0", { type: "custom.hype", data: { level: "fire", n: 11 } })).status).toBe(400);
    expect((await post("fan-0", { type: "custom.hype", data: { level: "meh", n: 1 } })).status).toBe(400);
    // Teams: 12 people, each says their team three times.
    const teams = { red: 0, blue: 0 };
    for (let u = 0; u < 12; u++) {
      const team = u % 3 === 0 ? "blue" : "red";
      teams[team]++;
      for (let i = 0; i < 3; i++) expect((await post(`fan-${u}`, { id: `t-${u}-${i}`, type: "custom.team", data: { team } })).status).toBe(200);
    }
    await eventually(async () => {
      for (const p of [viewer, host]) {
        expect(await counts(p, "custom.hype")).toEqual(want);
        expect(await counts(p, "custom.team")).toEqual(teams);
      }
    });
    expect(await viewer.locator(`[data-testid=custom][data-type="custom.hype"] h2`).textContent()).toBe("Hype meter");
    // The bars are drawn in the registered order.
    expect(await viewer.locator(`[data-testid=custom][data-type="custom.hype"] [data-testid=custom-count]`).evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.key))).toEqual(levels);
  });

  it("a viewer taps the meter: each tap publishes one event under its key, counted once", async () => {
    const before = await counts(host, "custom.hype");
    const teamsBefore = await counts(host, "custom.team");
    await viewer.locator(`[data-testid=custom][data-type="custom.team"] button[data-key=blue]`).click();
    await viewer.locator(`[data-testid=custom][data-type="custom.team"] button[data-key=blue]`).click(); // one person: counted once
    const fire = viewer.locator(`[data-testid=custom][data-type="custom.hype"] button[data-key=fire]`);
    for (let i = 0; i < 3; i++) await fire.click();
    await eventually(async () => {
      for (const p of [viewer, host]) {
        expect(await counts(p, "custom.hype")).toEqual({ ...before, fire: before.fire + 3 });
      }
    });
    // The hype taps were sent after the team taps' first; once they show,
    // both team taps have been folded too: blue counts the viewer once.
    expect(await counts(host, "custom.team")).toEqual({ ...teamsBefore, blue: teamsBefore.blue + 1 });
    // The host console draws bars, not buttons.
    expect(await host.locator(`[data-testid=custom] button`).count()).toBe(0);
  });

  // (Dev runs with auth off, where everyone is a host: the capability a
  // register asks for is tested in ingest's TestCustomTypes.)
  it("a register keeps the last value by position", async () => {
    expect((await post("e2e-host", { type: "custom.song", data: { slot: "next", song: "Jolene" } })).status).toBe(200);
    expect((await post("e2e-host", { type: "custom.song", data: { slot: "next", song: "Africa <live>" } })).status).toBe(200);
    await eventually(async () => {
      for (const p of [viewer, host]) {
        expect(await p.locator(`[data-testid=custom][data-type="custom.song"] [data-testid=custom-value][data-key=next]`).textContent()).toBe("Africa <live>");
      }
    });
  });
});
