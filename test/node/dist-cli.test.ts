// The submitter's `dist` command, run as a user would: a real coordinator, a
// real agent, and the built bin.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderProgress } from "../../worker-agent/src/dist-cli/progress-bar.js";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

const DIST = fileURLToPath(new URL("../../worker-agent/dist/dist.js", import.meta.url));
const run = promisify(execFile);
let coord: Coordinator;
let agent: AgentProc;
const dir = mkdtempSync(join(tmpdir(), "dist-cli-"));

beforeAll(async () => {
  coord = await startCoordinator();
  agent = await startAgent({ url: coord.url, token: coord.agentToken, publicKey: coord.publicKey, concurrency: 2, name: "cli" });
});
afterAll(async () => {
  await agent?.stop();
  await coord?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function dist(args: string[]) {
  return run(process.execPath, [DIST, ...args], { env: { PATH: process.env.PATH, DIST_URL: coord.url, DIST_SUBMIT_TOKEN: coord.submitToken } });
}

describe("dist", () => {
  it("submit --watch writes every result as NDJSON on stdout and a progress bar on stderr", async () => {
    writeFileSync(join(dir, "f.js"), "async (n, ctx) => { ctx.progress?.(0.5); return n * n; }");
    writeFileSync(join(dir, "inputs.json"), JSON.stringify(Array.from({ length: 20 }, (_, i) => i)));
    const { stdout, stderr } = await dist(["submit", "--fn", join(dir, "f.js"), "--inputs", join(dir, "inputs.json"), "--watch"]);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(20);
    expect(lines.every((r) => r.ok && r.value === r.index * r.index)).toBe(true);
    expect(lines.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(stderr).toMatch(/submitted batch default\.\S+ \(20 jobs\)/);
    expect(stderr).toMatch(/\[#{24}\] 20\/20 · 0 failed · 0 running · [\d.]+\/s · done in \d+s/);
  });

  it("status and cancel take a job or batch id; watch follows a finished batch to its end", async () => {
    const { stdout } = await dist(["submit", "--fn", join(dir, "f.js"), "--input", "7", "--queue", "nobody-serves-this"]);
    const { batchId, jobIds } = JSON.parse(stdout);
    const status = JSON.parse((await dist(["status", jobIds[0]])).stdout);
    expect(status).toMatchObject({ state: "queued", wait: { agentsSeen: 0 } });
    expect(JSON.parse((await dist(["cancel", batchId])).stdout)).toEqual({ cancelled: 1 });
    expect(JSON.parse((await dist(["status", batchId])).stdout)).toMatchObject({ done: true, counts: { cancelled: 1 } });
    const watched = await dist(["watch", batchId]).catch((e: { stdout: string; code: number }) => e);
    expect(JSON.parse(watched.stdout.trim())).toMatchObject({ ok: false, error: { code: "cancelled" } });
  });

  it("--help everywhere, and clear errors for bad input", async () => {
    expect((await dist(["--help"])).stdout).toContain("submit --fn");
    expect((await dist(["submit", "--help"])).stdout).toContain("--watch");
    expect((await dist(["keys", "--help"])).stdout).toContain("keys generate");
    const missing = await dist(["submit", "--fn", join(dir, "nope.js"), "--input", "1"]).catch((e: { stderr: string; code: number }) => e);
    expect(missing).toMatchObject({ code: 2 });
    expect((missing as { stderr: string }).stderr).toContain("cannot read");
    const badToken = await run(process.execPath, [DIST, "status", "default.AAAAAAAAAAAA"], { env: { PATH: process.env.PATH, DIST_URL: coord.url, DIST_SUBMIT_TOKEN: "wrong" } }).catch((e) => e);
    expect(badToken.code).toBe(2);
    expect(badToken.stderr).toContain("unauthorized");
    expect(badToken.stderr).not.toContain("wrong");
  });

  it("keys generate prints a public key and writes the private key for wrangler secret put", async () => {
    const out = join(dir, "signing.key");
    const res = await dist(["keys", "generate", "--out", out]);
    expect(res.stdout + res.stderr).toMatch(/[A-Za-z0-9_-]{43}/);
  });
});

describe("the progress line", () => {
  it("shows done, failed, running, rate and ETA", () => {
    expect(renderProgress({ total: 100, done: 40, failed: 10, running: 4 }, 10_000)).toBe("[############------------] 50/100 · 10 failed · 4 running · 5.0/s · ETA 10s");
  });
});
