// Starts and stops a real `ovation dev` for the browser tests.

import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** repoRoot is the Go module root (web/..). */
export const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** outDir is where tests leave screenshots and server logs (gitignored). */
export const outDir = fileURLToPath(new URL("./test-output/", import.meta.url));

/** DevServer is one running `ovation dev`. */
export interface DevServer {
  base: string;
  httpAddr: string;
  dir: string;
  log: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * startDev builds the binary (unless OVATION_BIN names one) and runs
 * `ovation dev` on non-default ports (OVATION_E2E_HTTP_ADDR, default
 * 127.0.0.1:18480; OVATION_E2E_KAFKA_ADDR, default 127.0.0.1:19480) with a
 * fresh data directory (or dataDir, to restart on the same broker data),
 * and waits until /readyz answers 200. args are extra flags of
 * `ovation dev` (e.g. --auth).
 */
export async function startDev(opts: { httpAddr?: string; kafkaAddr?: string; audience?: number; args?: string[]; dataDir?: string } = {}): Promise<DevServer> {
  const dir = mkdtempSync(join(tmpdir(), "ovation-e2e-"));
  let bin = process.env.OVATION_BIN ?? "";
  if (!bin) {
    bin = join(dir, "ovation");
    const b = spawnSync("go", ["build", "-o", bin, "./cmd/ovation"], { cwd: repoRoot, stdio: "inherit" });
    if (b.status !== 0) throw new Error(`go build ./cmd/ovation failed (exit ${b.status})`);
  }
  const httpAddr = opts.httpAddr ?? process.env.OVATION_E2E_HTTP_ADDR ?? "127.0.0.1:18480";
  const kafkaAddr = opts.kafkaAddr ?? process.env.OVATION_E2E_KAFKA_ADDR ?? "127.0.0.1:19480";
  const log = join(dir, "ovation-dev.log");
  const out = createWriteStream(log);
  const proc = spawn(bin, ["dev", "--http-addr", httpAddr, "--kafka-listen", kafkaAddr, "--data-dir", opts.dataDir ?? join(dir, "data"), "--audience", String(opts.audience ?? 0),
    "--clickhouse-addr", "127.0.0.1:1", ...(opts.args ?? [])], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.pipe(out);
  proc.stderr!.pipe(out);
  let exited: number | null = null;
  proc.on("exit", (code) => (exited = code ?? -1));
  const base = `http://${httpAddr}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`ovation dev exited with ${exited} before it was ready; see ${log}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`ovation dev was not ready within 60 s; see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const stop = async (): Promise<void> => {
    if (exited === null) {
      proc.kill("SIGINT");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await new Promise<void>((r) => (exited !== null ? r() : proc.once("exit", () => r())));
      clearTimeout(t);
    }
    // The server's log goes next to the screenshots; the binary and the
    // broker's data go, unless OVATION_E2E_KEEP asks to keep them.
    mkdirSync(outDir, { recursive: true });
    copyFileSync(log, join(outDir, `ovation-dev-${httpAddr.split(":").pop()}.log`));
    if (!process.env.OVATION_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  return { base, httpAddr, dir, log, proc, stop };
}
