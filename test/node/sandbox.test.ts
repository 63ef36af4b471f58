// The sandbox pool against the built child (worker-agent/dist/sandbox-child.js):
// real child processes under Node's permission model, no mocks.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex, type Task } from "../../src/protocol/index.js";
import { SandboxPool, type RunOutcome } from "../../worker-agent/src/sandbox.js";

const agentDir = fileURLToPath(new URL("../../worker-agent/", import.meta.url));
const childPath = join(agentDir, "dist", "sandbox-child.js");
const SECRET = "agent-token-that-must-not-leak-7f3a";

let pool: SandboxPool;
let scratch: string;
let seq = 0;

async function task(source: string, input: unknown = null, timeoutMs = 5_000): Promise<Task> {
  seq++;
  return { jobId: `test.job${seq}aaaaaa.0`, leaseId: `test.lease${seq}aaaaaa`, attempt: 1, queue: "test", fnHash: await sha256Hex(source), input, timeoutMs };
}

async function run(source: string, input: unknown = null, opts: { timeoutMs?: number; signal?: AbortSignal; on?: SandboxPool } = {}): Promise<RunOutcome> {
  return (opts.on ?? pool).run(await task(source, input, opts.timeoutMs), source, opts.signal);
}

function errorOf(outcome: RunOutcome) {
  expect(outcome.ok).toBe(false);
  return (outcome as Extract<RunOutcome, { ok: false }>).error;
}

beforeAll(async () => {
  if (!existsSync(childPath)) execFileSync(process.execPath, [join(agentDir, "build.mjs")]);
  // A token in the agent's own environment: the sandbox must never see it.
  process.env.DIST_AGENT_TOKEN = SECRET;
  scratch = mkdtempSync(join(tmpdir(), "dist-sandbox-"));
  pool = new SandboxPool({ childPath, size: 2, maxMemoryMb: 256 });
  await pool.start();
});

afterAll(async () => {
  await pool?.close();
  delete process.env.DIST_AGENT_TOKEN;
  rmSync(scratch, { recursive: true, force: true });
});

describe("running functions", () => {
  it("runs an arrow function on its input", async () => {
    expect(await run("(s) => s.toUpperCase()", "hello")).toMatchObject({ ok: true, value: "HELLO" });
  });

  it("runs an ES module's default export, which may import Node built-ins", async () => {
    const source = `import { createHash } from "node:crypto";\nexport default async function (s) { return createHash("sha256").update(s).digest("hex"); }`;
    expect(await run(source, "abc")).toMatchObject({ ok: true, value: await sha256Hex("abc") });
  });

  it("passes ctx with jobId and attempt, and returns undefined as null", async () => {
    const outcome = await run("(x, ctx) => ({ jobId: ctx.jobId, attempt: ctx.attempt, aborted: ctx.signal.aborted })");
    expect(outcome).toMatchObject({ ok: true, value: { jobId: `test.job${seq}aaaaaa.0`, attempt: 1, aborted: false } });
    expect(await run("() => {}")).toMatchObject({ ok: true, value: null });
  });

  it("returns a thrown error as { name, message, stack } without the source's data: URL", async () => {
    const error = errorOf(await run("(x) => {\n  throw new TypeError('bad input ' + x);\n}", 7));
    expect(error).toMatchObject({ name: "TypeError", message: "bad input 7" });
    expect(error.stack).toContain("dist-fn-");
    expect(error.stack).not.toContain("data:text/javascript");
  });

  it("reports a source that is not a function", async () => {
    expect(errorOf(await run("42")).message).toMatch(/function expression or a module/);
    expect(errorOf(await run("(x) => {")).name).toBe("SyntaxError");
  });

  it("refuses a result that is not JSON-serializable or is too large", async () => {
    expect(errorOf(await run("() => 10n")).code).toBe("not_serializable");
    expect(errorOf(await run("() => { const o = {}; o.self = o; return o; }")).code).toBe("not_serializable");
    expect(errorOf(await run("() => () => 1")).code).toBe("not_serializable");
    expect(errorOf(await run("() => 'x'.repeat(2 * 1024 * 1024)")).code).toBe("result_too_large");
  });
});

describe("limits", () => {
  it("stops while(true){} at its time limit, and the pool then runs other tasks", async () => {
    const t0 = Date.now();
    const error = errorOf(await run("() => { while (true) {} }", null, { timeoutMs: 300 }));
    expect(error).toMatchObject({ name: "TimeoutError", code: "timeout" });
    expect(Date.now() - t0).toBeLessThan(1_500);
    const after = await Promise.all([run("(x) => x + 1", 1), run("(x) => x + 1", 2), run("(x) => x + 1", 3)]);
    expect(after.map((o) => (o as { value: unknown }).value)).toEqual([2, 3, 4]);
  });

  it("keeps serving in one slot while the other spins", async () => {
    const spinning = run("() => { while (true) {} }", null, { timeoutMs: 1_000 });
    const t0 = Date.now();
    expect(await run("(x) => x * 2", 21)).toMatchObject({ ok: true, value: 42 });
    expect(Date.now() - t0).toBeLessThan(500);
    expect(errorOf(await spinning).code).toBe("timeout");
  });

  it("cancels through the signal: a task that listens stops, one that ignores it is killed", async () => {
    const listening = new AbortController();
    const polite = run("(x, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))", null, { signal: listening.signal });
    const ignoring = new AbortController();
    const rude = run("() => new Promise(() => {})", null, { signal: ignoring.signal });
    setTimeout(() => { listening.abort(); ignoring.abort(); }, 100);
    expect(errorOf(await polite)).toMatchObject({ name: "AbortError", code: "cancelled" });
    expect(errorOf(await rude)).toMatchObject({ name: "AbortError", code: "cancelled" });
    expect(await run("(x) => x", "still here")).toMatchObject({ ok: true, value: "still here" });
  });

  it("fails a memory bomb with memory_limit and keeps serving", async () => {
    const small = new SandboxPool({ childPath, size: 1, maxMemoryMb: 64 });
    await small.start();
    try {
      const bomb = "() => { const a = []; while (true) a.push(new Array(100000).fill(Math.random())); }";
      expect(errorOf(await run(bomb, null, { on: small, timeoutMs: 20_000 })).code).toBe("memory_limit");
      expect(await run("(x) => x * 2", 4, { on: small })).toMatchObject({ ok: true, value: 8 });
    } finally {
      await small.close();
    }
  });
});

describe("isolation", () => {
  it("a task cannot see the agent's token: its environment is empty and its argv holds no token", async () => {
    const outcome = await run("() => ({ env: process.env, argv: process.argv, execArgv: process.execArgv })");
    expect(outcome.ok).toBe(true);
    const value = (outcome as { value: { env: object; argv: string[] } }).value;
    expect(value.env).toEqual({});
    expect(JSON.stringify(value)).not.toContain(SECRET);
    expect(value.argv).toEqual([process.execPath, childPath]);
  });

  it("a task cannot write a file, by import, by createRequire, or read the agent's files", async () => {
    const target = join(scratch, "written.txt");
    const viaImport = `async (p) => { const fs = await import("node:fs"); fs.writeFileSync(p, "x"); return "wrote"; }`;
    expect(errorOf(await run(viaImport, target)).code).toBe("ERR_ACCESS_DENIED");
    const viaRequire = `import { createRequire } from "node:module";\nexport default (p) => { const require = createRequire("/tmp/any.js"); require("fs").writeFileSync(p, "x"); return "wrote"; }`;
    expect(errorOf(await run(viaRequire, target)).code).toBe("ERR_ACCESS_DENIED");
    expect(await run("() => typeof require")).toMatchObject({ ok: true, value: "undefined" });
    expect(existsSync(target)).toBe(false);
    const readOwn = `async (p) => (await import("node:fs")).readFileSync(p, "utf8")`;
    expect(errorOf(await run(readOwn, join(agentDir, "package.json"))).code).toBe("ERR_ACCESS_DENIED");
  });

  it("a task cannot spawn a process or start a worker thread", async () => {
    const spawnIt = `async () => (await import("node:child_process")).execSync("echo hi").toString()`;
    expect(errorOf(await run(spawnIt)).code).toBe("ERR_ACCESS_DENIED");
    const workerIt = `async () => { const { Worker } = await import("node:worker_threads"); new Worker("1", { eval: true }); return "started"; }`;
    expect(errorOf(await run(workerIt)).code).toBe("ERR_ACCESS_DENIED");
  });
});
