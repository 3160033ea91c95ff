// Token lifecycle on an open socket, in Chromium through the SDK, against
// a real `ovation dev --auth` (docs/protocol.md §6): a socket whose token
// expires is closed with 4002 within leeway + 1 s of exp; a socket whose
// app supplies a token function refreshes on the server's hint and stays
// open, receiving frames, across several token lifetimes.
//
// The page is one the dev server really serves (/healthz), so Chromium
// treats it as same-origin and local (a page made up by playwright's
// route.fulfill fails Chromium's local network access checks); into it the
// SDK's own build (sdk/dist, made by `npm run build`) is loaded as a
// module, routed from disk. The Origin check and the SDK are the real ones.

import { afterAll, beforeAll, expect, it } from "vitest";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDev } from "./server.js";
import type { DevServer } from "./server.js";

const OUT = fileURLToPath(new URL("./test-output/", import.meta.url));
const DIST = fileURLToPath(new URL("../sdk/dist/", import.meta.url));
const CHROMIUM = process.env.OVATION_CHROMIUM ?? "/usr/bin/chromium";
const SECRET = "e2e-token-secret-0123456789abcdefghij";
const LEEWAY_MS = 1000;
const ROOM = `tok-${Date.now().toString(36)}`;

let dev: DevServer;
let browser: Browser;
let page: Page;

const b64 = (s: string): string => Buffer.from(s).toString("base64url");

/** sign issues an HS256 JWT for sub, valid until exp (Unix s). */
function sign(sub: string, exp: number, caps: string[] = ["subscribe"]): string {
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ sub, exp, rooms: { [ROOM]: caps } }));
  const mac = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${mac}`;
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(`${DIST}index.js`)) throw new Error("web/sdk/dist is missing: run `npm run build` first (web/test.sh does)");
  dev = await startDev({
    httpAddr: process.env.OVATION_E2E_TOKEN_HTTP_ADDR ?? "127.0.0.1:18482",
    kafkaAddr: process.env.OVATION_E2E_TOKEN_KAFKA_ADDR ?? "127.0.0.1:19482",
    args: ["--auth", "--auth-hs256-secrets", SECRET, "--token-leeway", `${LEEWAY_MS}ms`, "--token-refresh-before", "2s"],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  page = await (await browser.newContext()).newPage();
  // The SDK's build, served from the dev server's origin; /sdk-e2e/token
  // is the demo page's token_url (a fresh 3 s token for ?sub=).
  await page.context().route(`${dev.base}/sdk-e2e/**`, async (route) => {
    const u = new URL(route.request().url());
    const name = u.pathname.replace("/sdk-e2e/", "");
    if (name === "token") {
      await route.fulfill({ contentType: "text/plain", body: sign(u.searchParams.get("sub") ?? "anon", Math.floor(Date.now() / 1000) + 3) });
      return;
    }
    if (!/^[\w.-]+\.js$/.test(name) || !existsSync(DIST + name)) {
      await route.fulfill({ status: 404, body: "not found" });
      return;
    }
    await route.fulfill({ contentType: "text/javascript", body: readFileSync(DIST + name, "utf8") });
  });
  // getToken for the page: a fresh 3 s token for bob at each call.
  await page.exposeFunction("mintToken", (sub: string, ttl: number) => sign(sub, Math.floor(Date.now() / 1000) + ttl));
  await page.goto(`${dev.base}/healthz`);
  await page.addScriptTag({ type: "module", content: `import * as sdk from "/sdk-e2e/index.js"; window.sdk = sdk; window.sdkReady = true;` });
  await page.waitForFunction(() => (window as unknown as { sdkReady?: boolean }).sdkReady === true);
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  await dev?.stop();
});

interface Probe {
  frames: number;
  closes: { code: number; at: number }[];
  status: string;
  connects: number;
  expiring: number;
  refreshed: number[];
  errors: string[];
}

it("closes an expired socket with 4002 within leeway + 1 s; a refreshing one stays open and fed", async () => {
  // start(name, token) runs one SDK client on the room and records what
  // it sees; a null token means a token function (getToken) minting 3 s
  // tokens for name.
  await page.evaluate(({ url, room }) => {
    type Probe = { frames: number; closes: { code: number; at: number }[]; status: string; connects: number; expiring: number; refreshed: number[]; errors: string[] };
    const w = window as unknown as { sdk: typeof import("../sdk/src/index.js"); probes: Record<string, Probe>; clients: Record<string, unknown>; mintToken: (s: string, ttl: number) => Promise<string>; start: (name: string, token: string | null) => void };
    w.probes = {};
    w.clients = {};
    w.start = (name: string, static_: string | null) => {
      const token = static_ ?? (() => w.mintToken(name, 3));
      const p: Probe = { frames: 0, closes: [], status: "", connects: 0, expiring: 0, refreshed: [], errors: [] };
      w.probes[name] = p;
      const c = new w.sdk.OvationClient({
        url, token,
        webSocket: (u: string) => {
          const ws = new WebSocket(u);
          ws.addEventListener("close", (ev) => p.closes.push({ code: ev.code, at: Date.now() }));
          return ws as unknown as ReturnType<import("../sdk/src/client.js").WebSocketFactory>;
        },
      });
      w.clients[name] = c;
      c.on("status", (s) => { p.status = s; p.connects = c.connects; });
      c.on("tokenExpiring", () => { p.expiring++; });
      c.on("tokenRefreshed", (e) => { p.refreshed.push(e); });
      c.on("error", (e) => { p.errors.push(e.message); });
      c.room(room).on("state", (_s, ch) => { if (ch.kind === "frame") p.frames++; });
    };
  }, { url: `ws://${dev.httpAddr}/v1/stream`, room: ROOM });
  const start = (name: string, token: string | null): Promise<void> =>
    page.evaluate(([n, t]) => (window as unknown as { start: (name: string, token: string | null) => void }).start(n!, t), [name, token] as const);

  // Frames: an event every 150 ms, published over HTTP by a host.
  const host = sign("host", Math.floor(Date.now() / 1000) + 3600, ["publish"]);
  let n = 0;
  const pub = setInterval(() => {
    void fetch(`${dev.base}/v1/rooms/${ROOM}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${host}` },
      body: JSON.stringify({ id: `ev-${++n}`, type: "reaction", data: { emoji: "👏" } }),
    }).catch(() => {});
  }, 150);
  try {
    const probe = (name: string): Promise<Probe> => page.evaluate((nm) => JSON.parse(JSON.stringify((window as unknown as { probes: Record<string, Probe> }).probes[nm])) as Probe, name);
    // bob (a token function) first, until frames flow; then alice, with
    // a static token that expires in 2-3 s.
    await start("bob", null);
    await expect.poll(async () => (await probe("bob")).frames, { timeout: 30_000 }).toBeGreaterThan(0);
    const exp = Math.floor(Date.now() / 1000) + 3;
    await start("alice", sign("alice", exp));
    await expect.poll(async () => (await probe("alice")).frames, { timeout: 2_000 }).toBeGreaterThan(0);

    // alice is closed with 4002 between exp + leeway and exp + leeway + 1 s.
    await expect.poll(async () => (await probe("alice")).closes.length, { timeout: 15_000 }).toBeGreaterThan(0);
    const a = await probe("alice");
    expect(a.closes[0].code).toBe(4002);
    const late = a.closes[0].at - exp * 1000;
    expect(late).toBeGreaterThanOrEqual(LEEWAY_MS - 100);
    expect(late).toBeLessThanOrEqual(LEEWAY_MS + 1000);
    expect(a.expiring).toBe(1); // the hint came, the static token could not act on it
    expect(a.status).toBe("closed");
    console.log(`alice closed with 4002 ${late} ms after exp (leeway ${LEEWAY_MS} ms)`);

    // bob lives through three more 3 s token lifetimes on one socket,
    // still receiving frames.
    const b0 = await probe("bob");
    await new Promise((r) => setTimeout(r, 7_000));
    const b = await probe("bob");
    expect(b.closes).toEqual([]);
    expect(b.connects).toBe(1);
    expect(b.status).toBe("open");
    expect(b.refreshed.length).toBeGreaterThanOrEqual(3);
    expect(b.frames).toBeGreaterThan(b0.frames + 10);
    expect(b.errors).toEqual([]);
    console.log(`bob: ${b.refreshed.length} refreshes on one socket, ${b.frames} frames`);
  } finally {
    clearInterval(pub);
    await page.screenshot({ path: `${OUT}token-refresh.png` }).catch(() => {});
  }
}, 120_000);

it("keeps the demo page connected across token lifetimes through ?token_url=", async () => {
  const demo = await page.context().newPage();
  try {
    await demo.goto(`${dev.base}/?room=${ROOM}&token_url=${encodeURIComponent("/sdk-e2e/token?sub=carol")}`);
    type S = { status: string; connects: number; seq: number };
    const read = (): Promise<S> => demo.evaluate(() => {
      const o = (window as unknown as { ovation: { client: { status: string; connects: number }; room: { position: { seq: number } | null } } }).ovation;
      return { status: o.client.status, connects: o.client.connects, seq: o.room.position?.seq ?? -1 };
    });
    await expect.poll(async () => (await read()).status, { timeout: 15_000 }).toBe("open");
    const host = sign("host", Math.floor(Date.now() / 1000) + 3600, ["publish"]);
    let n = 0;
    const pub = setInterval(() => {
      void fetch(`${dev.base}/v1/rooms/${ROOM}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${host}` },
        body: JSON.stringify({ id: `demo-${++n}`, type: "reaction", data: { emoji: "🔥" } }),
      }).catch(() => {});
    }, 200);
    try {
      const s0 = await read();
      await new Promise((r) => setTimeout(r, 7_000)); // two 3 s token lifetimes and more
      const s1 = await read();
      expect(s1.status).toBe("open");
      expect(s1.connects).toBe(1);
      expect(s1.seq).toBeGreaterThan(s0.seq + 10);
    } finally {
      clearInterval(pub);
    }
  } finally {
    await demo.close();
  }
}, 60_000);
