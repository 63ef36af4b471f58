// The sandbox pool against the built child (worker-agent/dist/sandbox-child.js):
// real child processes under Node's permission model, each function in its own
// vm realm, no mocks. What a hostile task tries here, a volunteer would fear.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex, type Task } from "../../src/protocol/index.js";
import { SandboxPool, type RunOutcome } from "../../worker-agent/src/sandbox.js";

const agentDir = fileURLToPath(new URL("../../worker-agent/", import.meta.url));
const childPath = join(agentDir, "dist", "sandbox-child.js");
const SECRET = "agent-token-that-must-not-leak-7f3a";

let pool: SandboxPool;
let netPool: SandboxPool;
let scratch: string;
let server: Server;
let serverUrl: string;
let connections = 0;
let seq = 0;

async function task(source: string, input: unknown = null, timeoutMs = 5_000): Promise<Task> {
  seq++;
  return { jobId: `test.job${seq}aaaaaa.0`, leaseId: `test.lease${seq}aaaaaa`, attempt: 1, queue: "test", fnHash: await sha256Hex(source), input, timeoutMs };
}

async function run(source: string, input: unknown = null, opts: { timeoutMs?: number; signal?: AbortSignal; on?: SandboxPool } = {}): Promise<RunOutcome> {
  return (opts.on ?? pool).run(await task(source, input, opts.timeoutMs), source, opts.signal);
}

async function valueOf(source: string, input: unknown = null, opts: { on?: SandboxPool } = {}): Promise<any> {
  const outcome = await run(source, input, opts);
  if (!outcome.ok) throw new Error(`task failed: ${JSON.stringify(outcome.error)}`);
  return outcome.value;
}

function errorOf(outcome: RunOutcome) {
  expect(outcome.ok).toBe(false);
  return (outcome as Extract<RunOutcome, { ok: false }>).error;
}

async function withPool<T>(opts: { maxMemoryMb: number; size?: number }, fn: (p: SandboxPool) => Promise<T>): Promise<T> {
  const p = new SandboxPool({ childPath, size: opts.size ?? 1, maxMemoryMb: opts.maxMemoryMb });
  await p.start();
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

beforeAll(async () => {
  if (!existsSync(childPath)) execFileSync(process.execPath, [join(agentDir, "build.mjs")]);
  // A token in the agent's own environment: the sandbox must never see it.
  process.env.DIST_AGENT_TOKEN = SECRET;
  scratch = mkdtempSync(join(tmpdir(), "dist-sandbox-"));
  server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (c: Buffer) => body.push(c));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "x-probe": "yes" });
      res.end(JSON.stringify({ method: req.method, path: req.url, body: Buffer.concat(body).toString("utf8") }));
    });
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  pool = new SandboxPool({ childPath, size: 2, maxMemoryMb: 512 });
  netPool = new SandboxPool({ childPath, size: 1, maxMemoryMb: 256, allowNet: true });
  await Promise.all([pool.start(), netPool.start()]);
});

afterAll(async () => {
  await Promise.all([pool?.close(), netPool?.close()]);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  delete process.env.DIST_AGENT_TOKEN;
  rmSync(scratch, { recursive: true, force: true });
});

describe("running functions", () => {
  it("runs an arrow function on its input", async () => {
    expect(await run("(s) => s.toUpperCase()", "hello")).toMatchObject({ ok: true, value: "HELLO" });
  });

  it("runs an ES module's default export; importing anything, statically or with import(), is refused", async () => {
    expect(await run("const twice = (x) => x * 2;\nexport default async function (x) { return twice(x); }", 21)).toMatchObject({ ok: true, value: 42 });
    expect(errorOf(await run(`import fs from "node:fs";\nexport default () => typeof fs`)).code).toBe("ERR_ACCESS_DENIED");
    expect(errorOf(await run(`async () => (await import("node:fs")).readFileSync`)).code).toBe("ERR_ACCESS_DENIED");
  });

  it("passes ctx with jobId and attempt, and returns undefined as null", async () => {
    const outcome = await run("(x, ctx) => ({ jobId: ctx.jobId, attempt: ctx.attempt, aborted: ctx.signal.aborted })");
    expect(outcome).toMatchObject({ ok: true, value: { jobId: `test.job${seq}aaaaaa.0`, attempt: 1, aborted: false } });
    expect(await run("() => {}")).toMatchObject({ ok: true, value: null });
  });

  it("returns a thrown error as { name, message, stack } naming the function, not the sandbox's files", async () => {
    const error = errorOf(await run("(x) => {\n  throw new TypeError('bad input ' + x);\n}", 7));
    expect(error).toMatchObject({ name: "TypeError", message: "bad input 7" });
    expect(error.stack).toMatch(/dist-fn-[0-9a-f]{12}\.js:2:/);
    expect(error.stack).not.toContain(agentDir);
    expect(error.stack).not.toContain("dist-sandbox-realm");
  });

  it("reports a source that is not a function", async () => {
    expect(errorOf(await run("42")).message).toMatch(/function expression or a module/);
    expect(errorOf(await run("(x) => {")).name).toBe("SyntaxError");
  });

  it("refuses a result that is not JSON-serializable, or larger than 1 MB (a 100 MB one too)", async () => {
    expect(errorOf(await run("() => 10n")).code).toBe("not_serializable");
    expect(errorOf(await run("() => { const o = {}; o.self = o; return o; }")).code).toBe("not_serializable");
    expect(errorOf(await run("() => () => 1")).code).toBe("not_serializable");
    expect(errorOf(await run("() => 'x'.repeat(2 * 1024 * 1024)")).code).toBe("result_too_large");
    expect(errorOf(await run("() => 'x'.repeat(100 * 1024 * 1024)")).code).toBe("result_too_large");
    expect(errorOf(await run("() => Array.from({ length: 100 }, (_, i) => 'y'.repeat(1024 * 1024) + i)")).code).toBe("result_too_large");
    expect(await run("(x) => x", "next")).toMatchObject({ ok: true, value: "next" });
  });

  it("refuses a result nested deeper than the coordinator accepts, and keeps serving", async () => {
    expect(errorOf(await run("() => { let v = 1; for (let i = 0; i < 100; i++) v = [v]; return v; }")).code).toBe("result_too_deep");
    // Far deeper values already fail to serialize inside the sandbox.
    expect(["result_too_deep", "not_serializable"]).toContain(errorOf(await run("() => { let v = 1; for (let i = 0; i < 100000; i++) v = [v]; return v; }")).code);
    expect(await run("() => { let v = 1; for (let i = 0; i < 60; i++) v = [v]; return v; }")).toMatchObject({ ok: true });
    expect(await run("(x) => x", "still here")).toMatchObject({ ok: true, value: "still here" });
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

  it("fails a memory bomb with memory_limit and keeps serving — on the heap or in ArrayBuffers outside it", async () => {
    await withPool({ maxMemoryMb: 64 }, async (small) => {
      const heapBomb = "() => { const a = []; while (true) a.push(new Array(100000).fill(Math.random())); }";
      expect(errorOf(await run(heapBomb, null, { on: small, timeoutMs: 20_000 })).code).toBe("memory_limit");
      expect(await run("(x) => x * 2", 4, { on: small })).toMatchObject({ ok: true, value: 8 });
      const bufferBomb = "() => { const keep = []; for (;;) keep.push(new Uint8Array(32 * 1024 * 1024).fill(1)); }";
      const t0 = Date.now();
      expect(errorOf(await run(bufferBomb, null, { on: small, timeoutMs: 20_000 }))).toMatchObject({ code: "memory_limit", message: expect.stringMatching(/limit 320 MB/) });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(await run("(x) => x * 3", 4, { on: small })).toMatchObject({ ok: true, value: 12 });
    });
  });

  it("a task that leaves a loop running after it returns costs the next task nothing but a fresh sandbox", async () => {
    await withPool({ maxMemoryMb: 128 }, async (one) => {
      expect(await run("() => { (async () => { for (;;) await null; })(); return 'left behind'; }", null, { on: one })).toMatchObject({ ok: true });
      const t0 = Date.now();
      expect(await run("(x) => x + 1", 1, { on: one, timeoutMs: 1_000 })).toMatchObject({ ok: true, value: 2 });
      expect(Date.now() - t0).toBeLessThan(5_000);
    });
  });
});

describe("secrets, files and processes", () => {
  it("a task finds no process, require, module or Buffer, so no token in env, argv or the agent's files", async () => {
    const probe = `async () => {
      const out = { globals: [typeof process, typeof require, typeof module, typeof Buffer, typeof global, typeof globalThis.process] };
      for (const m of ["node:process", "node:fs", "node:os", "process", "fs"]) {
        try { await import(m); out[m] = "imported"; } catch (e) { out[m] = e.code; }
      }
      out.names = Object.getOwnPropertyNames(globalThis).join(",");
      return out;
    }`;
    const value = await valueOf(probe);
    expect(value.globals).toEqual(["undefined", "undefined", "undefined", "undefined", "undefined", "undefined"]);
    for (const m of ["node:process", "node:fs", "node:os", "process", "fs"]) expect(value[m], m).toBe("ERR_ACCESS_DENIED");
    expect(JSON.stringify(value)).not.toContain(SECRET);
  });

  it("a task cannot read the agent's config file, ~/.ssh or /proc/<ppid>/cmdline, write a file, spawn a process or start a worker", async () => {
    const configFile = join(scratch, "agent.env");
    writeFileSync(configFile, `DIST_AGENT_TOKEN=${SECRET}\n`);
    const target = join(scratch, "written.txt");
    const probe = `async (paths) => {
      const out = {};
      for (const m of ["node:fs", "node:fs/promises", "node:child_process", "node:worker_threads", "node:module"]) {
        try { await import(m); out[m] = "imported"; } catch (e) { out[m] = e.code; }
      }
      out.Worker = typeof Worker;
      out.read = await Promise.all(paths.map((p) => fetch("file://" + p).then((r) => r.text(), (e) => e.code)));
      return out;
    }`;
    const paths = [configFile, join(homedir(), ".ssh", "id_ed25519"), `/proc/${process.pid}/cmdline`, `/proc/${process.pid}/environ`];
    const value = await valueOf(probe, paths);
    expect(value).toEqual({
      "node:fs": "ERR_ACCESS_DENIED", "node:fs/promises": "ERR_ACCESS_DENIED", "node:child_process": "ERR_ACCESS_DENIED",
      "node:worker_threads": "ERR_ACCESS_DENIED", "node:module": "ERR_ACCESS_DENIED", Worker: "undefined",
      read: paths.map(() => "ERR_NETWORK_DISABLED"),
    });
    expect(existsSync(target)).toBe(false);
  });
});

describe("network", () => {
  it("without --allow-net a task has no socket API and fetch is refused; the local server sees no connection", async () => {
    const before = connections;
    const probe = `async (url) => {
      const out = { net: [typeof WebSocket, typeof EventSource, typeof XMLHttpRequest] };
      try { await fetch(url); out.fetch = "reached"; } catch (e) { out.fetch = e.code; }
      try { await fetch(new URL(url), { method: "POST", body: "x" }); out.post = "reached"; } catch (e) { out.post = e.code; }
      for (const m of ["node:net", "node:http", "node:dgram", "node:dns", "node:tls"]) {
        try { await import(m); out[m] = "imported"; } catch (e) { out[m] = e.code; }
      }
      return out;
    }`;
    expect(await valueOf(probe, serverUrl)).toEqual({
      net: ["undefined", "undefined", "undefined"], fetch: "ERR_NETWORK_DISABLED", post: "ERR_NETWORK_DISABLED",
      "node:net": "ERR_ACCESS_DENIED", "node:http": "ERR_ACCESS_DENIED", "node:dgram": "ERR_ACCESS_DENIED", "node:dns": "ERR_ACCESS_DENIED", "node:tls": "ERR_ACCESS_DENIED",
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(connections).toBe(before);
  });

  it("with --allow-net fetch reaches a local server: status, headers, text and json; still no modules", async () => {
    const probe = `async (url) => {
      const get = await fetch(url + "/hello?x=1");
      const post = await fetch(url + "/echo", { method: "POST", body: JSON.stringify({ n: 42 }), headers: { "content-type": "application/json" } });
      let file; try { await fetch("file:///etc/hostname"); file = "read"; } catch (e) { file = e.name; }
      let net; try { await import("node:net"); net = "imported"; } catch (e) { net = e.code; }
      return { status: get.status, ok: get.ok, probe: get.headers.get("X-Probe"), text: await get.text(), post: await post.json(), file, net };
    }`;
    expect(await valueOf(probe, serverUrl, { on: netPool })).toEqual({
      status: 200, ok: true, probe: "yes", text: JSON.stringify({ method: "GET", path: "/hello?x=1", body: "" }),
      post: { method: "POST", path: "/echo", body: '{"n":42}' }, file: "TypeError", net: "ERR_ACCESS_DENIED",
    });
  });
});

describe("the task's realm", () => {
  it("every constructor walk ends in the task's own Function, which cannot compile code: no way back to process", async () => {
    const probe = `async (input, ctx) => {
      const out = {};
      const walk = (name, v) => {
        try {
          const F = v.constructor.constructor;
          let ran;
          try { ran = typeof F("return process")(); } catch (e) { ran = e.name; }
          out[name] = [F === Function, ran];
        } catch (e) { out[name] = ["threw", e.name]; }
      };
      const caught = (fn) => { try { fn(); } catch (e) { return e; } };
      walk("this", this);
      walk("globalThis", globalThis);
      walk("input", input);
      walk("ctx", ctx);
      walk("ctx.signal", ctx.signal);
      walk("setTimeout()", setTimeout(() => {}, 0));
      walk("setTimeout", setTimeout);
      walk("console.log", console.log);
      walk("crypto.subtle.digest()", crypto.subtle.digest("SHA-256", new Uint8Array(1)));
      walk("fetch() error", await fetch("http://127.0.0.1:9/").catch((e) => e));
      walk("import() error", await import("node:fs").catch((e) => e));
      walk("URL error", caught(() => new URL("not a url")));
      walk("async function", async () => {});
      walk("generator", function* () {});
      walk("abort reason", AbortSignal.abort().reason);
      walk("prototype of globalThis", Object.getPrototypeOf(globalThis));
      out.asyncFunction = (() => { try { return typeof (async () => {}).constructor("return process")(); } catch (e) { return e.name; } })();
      out.eval = (() => { try { return typeof eval("process"); } catch (e) { return e.name; } })();
      out.newFunction = (() => { try { return typeof new Function("return process")(); } catch (e) { return e.name; } })();
      return out;
    }`;
    const value = await valueOf(probe, { some: "input" });
    const { asyncFunction, eval: evalResult, newFunction, ...walks } = value;
    expect(Object.keys(walks)).toHaveLength(16);
    for (const [name, result] of Object.entries(walks)) expect(result, name).toEqual([true, "EvalError"]);
    expect([asyncFunction, evalResult, newFunction]).toEqual(["EvalError", "EvalError", "EvalError"]);
  });

  it("Error.prepareStackTrace sees no frame whose this or function belongs to the agent's realm", async () => {
    const probe = `async (input, ctx) => {
      const foreign = [];
      let frames = 0;
      const own = (v) => v === undefined || v === null || (typeof v !== "object" && typeof v !== "function") || v instanceof Object;
      Error.stackTraceLimit = Infinity;
      Error.prepareStackTrace = (err, sites) => {
        for (const site of sites) {
          frames++;
          for (const v of [site.getThis(), site.getFunction()]) if (!own(v)) foreign.push(String(site));
        }
        return "inspected";
      };
      const capture = () => new Error("probe").stack;
      capture();
      await new Promise((r) => setTimeout(() => r(capture()), 1));
      await new Promise((r) => setImmediate(() => r(capture())));
      await new Promise((r) => queueMicrotask(() => r(capture())));
      const controller = new AbortController();
      controller.signal.addEventListener("abort", capture);
      controller.abort();
      await fetch("http://127.0.0.1:9/").catch(capture);
      await crypto.subtle.digest("SHA-256", new Uint8Array(1)).then(capture);
      await import("node:fs").catch(capture);
      try { new URL("not a url"); } catch { capture(); }
      delete Error.prepareStackTrace;
      return { frames, foreign };
    }`;
    const value = await valueOf(probe);
    expect(value.frames).toBeGreaterThan(10);
    expect(value.foreign).toEqual([]);
  });

  it("a hostile task cannot observe the next task's input in the same slot, nor leave globals to another function", async () => {
    await withPool({ maxMemoryMb: 128 }, async (one) => {
      const hostile = `(x) => {
        if (x === "report") return globalThis.seen ?? [];
        const seen = (globalThis.seen = []);
        const grab = (v) => { try { seen[seen.length] = typeof v === "string" ? v : JSON.stringify(v); } catch {} };
        for (const key of ["secret", "input", "inputJson", "json", "source", "jobId", "id"]) {
          Object.defineProperty(Object.prototype, key, { set: grab, get() { grab(key); return undefined; }, configurable: true });
        }
        const parse = JSON.parse;
        JSON.parse = (text, reviver) => { grab(text); return parse(text, reviver); };
        globalThis.leftBehind = "by the hostile task";
        const tick = () => { grab(typeof process); setTimeout(tick, 1); };
        tick();
        (async () => { for (let i = 0; i < 100000; i++) await null; })();
        return "armed";
      }`;
      expect(await run(hostile, "arm", { on: one })).toMatchObject({ ok: true, value: "armed" });
      const victim = "(x) => [x.secret, typeof leftBehind, typeof ({}).secret]";
      expect(await run(victim, { secret: SECRET }, { on: one })).toMatchObject({ ok: true, value: [SECRET, "undefined", "undefined"] });
      const report = await run(hostile, "report", { on: one });
      expect(report.ok).toBe(true);
      expect(JSON.stringify(report)).not.toContain(SECRET);
    });
  });

  it("keeps a function compiled in its slot: module state carries over to that function's next task", async () => {
    await withPool({ maxMemoryMb: 128 }, async (one) => {
      const counter = "let n = 0;\nexport default () => ++n;";
      expect((await run(counter, null, { on: one })) as unknown).toMatchObject({ value: 1 });
      expect((await run(counter, null, { on: one })) as unknown).toMatchObject({ value: 2 });
    });
  });
});
