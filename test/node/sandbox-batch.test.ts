// Batched dispatch in the sandbox pool, against the built child
// (worker-agent/dist/sandbox-child.js) — real child processes, no mocks.
// Quick tasks share IPC messages; what one task does to its child (run away,
// blow its memory, get cancelled) must still land on that task alone.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sha256Hex, type Task } from "../../src/protocol/index.js";
import { SandboxPool, type RunOutcome, type SandboxOptions } from "../../worker-agent/src/sandbox.js";
import { MAX_BATCH } from "../../worker-agent/src/sandbox-pace.js";

const agentDir = fileURLToPath(new URL("../../worker-agent/", import.meta.url));
const childPath = join(agentDir, "dist", "sandbox-child.js");
if (!existsSync(childPath)) execFileSync(process.execPath, [join(agentDir, "build.mjs")]);

let seq = 0;
async function task(source: string, input: unknown, timeoutMs = 5_000): Promise<Task> {
  seq++;
  return { jobId: `batch.job${seq}aaaaaa.0`, leaseId: `batch.lease${seq}aaaaaa`, attempt: 1, queue: "batch", fnHash: await sha256Hex(source), input, timeoutMs };
}

async function withPool<T>(opts: Partial<SandboxOptions>, fn: (p: SandboxPool) => Promise<T>): Promise<T> {
  const pool = new SandboxPool({ childPath, size: 1, maxMemoryMb: 128, ...opts });
  await pool.start();
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

/** Runs every input at once (a backlog), after runs that make the function known to be quick; also says in how many batch messages they first went out. */
async function burst(pool: SandboxPool, source: string, inputs: unknown[], opts: { timeoutMs?: number; warm?: unknown } = {}): Promise<{ outcomes: RunOutcome[]; batches: number }> {
  for (let i = 0; i < 10; i++) expect(await pool.run(await task(source, opts.warm ?? i), source)).toMatchObject({ ok: true });
  const tasks = await Promise.all(inputs.map((input) => task(source, input, opts.timeoutMs)));
  const before = pool.stats().batches;
  const runs = tasks.map((t) => pool.run(t, source));
  // The pool flushes once per tick: by the next turn of the event loop the first batches are out (no rerun yet).
  await new Promise((r) => setImmediate(r));
  const batches = pool.stats().batches - before;
  return { outcomes: await Promise.all(runs), batches };
}

const valueOf = (o: RunOutcome): unknown => (o.ok ? o.value : `failed: ${o.error.code}`);

describe("batched dispatch", () => {
  it("answers many quick tasks in far fewer IPC messages than tasks, each with its own value", async () => {
    await withPool({ size: 2 }, async (pool) => {
      const reverse = "(x) => ({ i: x.i, s: x.s.split('').reverse().join('') })";
      const square = "(n) => n * n";
      for (const src of [reverse, square]) expect(await pool.run(await task(src, src === square ? 3 : { i: 0, s: "ab" }), src)).toMatchObject({ ok: true });
      const before = pool.stats();
      const n = 2_000;
      // Two functions interleaved in one backlog: batches mix them, and no answer may land on another task.
      const runs = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const src = i % 2 ? square : reverse;
          const input = i % 2 ? i : { i, s: `task-${i}-${"xyz".repeat(i % 7)}` };
          return { i, outcome: await pool.run(await task(src, input), src) };
        }),
      );
      for (const { i, outcome } of runs) {
        const expected = i % 2 ? i * i : { i, s: `task-${i}-${"xyz".repeat(i % 7)}`.split("").reverse().join("") };
        expect(outcome).toMatchObject({ ok: true, value: expected });
      }
      const after = pool.stats();
      const messages = after.messagesSent + after.messagesReceived - before.messagesSent - before.messagesReceived;
      console.log(`  ${n} tasks: ${messages} IPC messages, ${after.batches - before.batches} batches, ${after.forked} children forked`);
      expect(messages).toBeLessThan(n / 4);
      expect(after.forked).toBeLessThanOrEqual(3); // the child start() tried (retired at once) and one per slot
    });
  });

  it("with a backlog a child is topped up in batches of at least half what it may hold, not one message per few results", async () => {
    await withPool({ size: 1 }, async (pool) => {
      const square = "(n) => n * n";
      expect(await pool.run(await task(square, 3), square)).toMatchObject({ ok: true, value: 9 });
      const before = pool.stats();
      const n = 3_000;
      const runs = await Promise.all(Array.from({ length: n }, async (_, i) => pool.run(await task(square, i), square)));
      expect(runs.map(valueOf)).toEqual(Array.from({ length: n }, (_, i) => i * i));
      const batches = pool.stats().batches - before.batches;
      console.log(`  ${n} tasks to one child: ${batches} batches, ${(n / batches).toFixed(1)} tasks each`);
      // At most MAX_BATCH held: refilled once it is down to half, so at least half a batch each but for the first and last few.
      expect(n / batches).toBeGreaterThanOrEqual(MAX_BATCH / 2 - 4);
    });
  });

  it("a task that runs away in a batch times out, and the tasks queued behind it complete with their values", async () => {
    await withPool({ size: 1, abortGraceMs: 200 }, async (pool) => {
      const source = "(x) => { if (x === 'spin') while (true) {} return x + '!'; }";
      const inputs = Array.from({ length: 16 }, (_, i) => (i === 4 ? "spin" : `t${i}`));
      const { outcomes, batches } = await burst(pool, source, inputs, { timeoutMs: 800, warm: "w" });
      expect(batches).toBeLessThan(inputs.length); // the backlog did go out in batches
      const spun = outcomes[4]!;
      expect(spun).toMatchObject({ ok: false, error: { name: "TimeoutError", code: "timeout" } });
      inputs.forEach((input, i) => {
        if (i !== 4) expect(valueOf(outcomes[i]!), `task ${i}`).toBe(`${input}!`);
      });
      expect(await pool.run(await task(source, "after"), source)).toMatchObject({ ok: true, value: "after!" });
    });
  });

  it("a quick function that runs away first in a batch still times out, and its batch completes", async () => {
    // The child holds its acknowledgement back for a function it knows to be quick: a spin there looks wedged at first.
    await withPool({ size: 1, abortGraceMs: 200, startTimeoutMs: 500 }, async (pool) => {
      const source = "(x) => { if (x === 'spin') while (true) {} return x + '?'; }";
      const inputs = ["spin", "a", "b", "c"];
      const { outcomes } = await burst(pool, source, inputs, { timeoutMs: 600, warm: "w" });
      expect(outcomes[0]).toMatchObject({ ok: false, error: { name: "TimeoutError", code: "timeout" } });
      expect(outcomes.slice(1).map(valueOf)).toEqual(["a?", "b?", "c?"]);
    });
  });

  it("cancelling a queued task ends it cancelled while the others complete", async () => {
    await withPool({ size: 1 }, async (pool) => {
      const source = "(x) => { const end = Date.now() + 2; while (Date.now() < end) {} return x * 10; }";
      for (let i = 0; i < 5; i++) await pool.run(await task(source, i), source);
      const tasks = await Promise.all(Array.from({ length: 8 }, (_, i) => task(source, i)));
      const controllers = tasks.map(() => new AbortController());
      const runs = tasks.map((t, i) => pool.run(t, source, controllers[i]!.signal));
      // Once the batch is in the child, the sixth task waits behind the others there.
      await new Promise((r) => setTimeout(r, 3));
      controllers[5]!.abort();
      const outcomes = await Promise.all(runs);
      expect(outcomes[5]).toMatchObject({ ok: false, error: { name: "AbortError", code: "cancelled" } });
      outcomes.forEach((o, i) => {
        if (i !== 5) expect(valueOf(o), `task ${i}`).toBe(i * 10);
      });
      expect(pool.stats().forked).toBe(2); // start()'s and the one that ran them: a queued task is dropped, not killed with its child
    });
  });

  it("a memory bomb in a batch fails with memory_limit alone; the tasks queued with it complete", async () => {
    await withPool({ size: 1, maxMemoryMb: 64 }, async (pool) => {
      const source = "(x) => { if (x === 'bomb') { const a = []; for (;;) a.push(new Array(100000).fill(Math.random())); } return x * 2; }";
      const inputs = Array.from({ length: 12 }, (_, i) => (i === 3 ? "bomb" : i));
      const { outcomes, batches } = await burst(pool, source, inputs, { timeoutMs: 20_000 });
      expect(batches).toBeLessThan(inputs.length);
      expect(outcomes[3]).toMatchObject({ ok: false, error: { code: "memory_limit" } });
      inputs.forEach((input, i) => {
        if (i !== 3) expect(valueOf(outcomes[i]!), `task ${i}`).toBe((input as number) * 2);
      });
    });
  });

  it("kills a child idle for idleMs, and a later task forks a new one; `warm` children stay", async () => {
    await withPool({ size: 2, idleMs: 150 }, async (pool) => {
      const source = "(x) => x + 1";
      // start() forked a child to prove one can start, and let it go: idle, the pool holds none.
      await new Promise((r) => setTimeout(r, 50));
      expect(pool.stats()).toMatchObject({ children: 0, forked: 1 });
      expect(await pool.run(await task(source, 1), source)).toMatchObject({ ok: true, value: 2 });
      expect(pool.stats().children).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 500));
      expect(pool.stats().children).toBe(0);
      const t0 = performance.now();
      expect(await pool.run(await task(source, 41), source)).toMatchObject({ ok: true, value: 42 });
      console.log(`  first task after idle (fork + compile): ${(performance.now() - t0).toFixed(1)} ms`);
      expect(pool.stats()).toMatchObject({ children: 1, forked: 3 });
    });
    await withPool({ size: 2, idleMs: 100, warm: 1 }, async (pool) => {
      const source = "(x) => x + 1";
      await Promise.all([1, 2, 3, 4].map(async (i) => pool.run(await task(source, i), source)));
      await new Promise((r) => setTimeout(r, 400));
      expect(pool.stats().children).toBe(1);
      expect(await pool.run(await task(source, 9), source)).toMatchObject({ ok: true, value: 10 });
    });
  });

  it("a function not yet seen to complete runs alone: nothing queues behind it", async () => {
    await withPool({ size: 2 }, async (pool) => {
      const spin = "() => { while (true) {} }";
      const quick = "(x) => x * 3";
      const spinning = pool.run(await task(spin, null, 1_000), spin);
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      const quicks = await Promise.all([1, 2, 3, 4, 5, 6].map(async (i) => pool.run(await task(quick, i), quick)));
      expect(quicks.map(valueOf)).toEqual([3, 6, 9, 12, 15, 18]);
      expect(Date.now() - t0).toBeLessThan(900); // served by the other child while the loop spins
      expect(await spinning).toMatchObject({ ok: false, error: { code: "timeout" } });
    });
  });

  it("a child that dropped a function's realm gets the task again with its source; one that compiled too many functions is replaced", async () => {
    await withPool({ size: 1 }, async (pool) => {
      // A child keeps 16 realms: after 20 other functions the first one is gone from it.
      const sources = Array.from({ length: 21 }, (_, i) => `(x) => x + ${i}`);
      for (const [i, src] of sources.entries()) expect(await pool.run(await task(src, 100), src)).toMatchObject({ ok: true, value: 100 + i });
      expect(await pool.run(await task(sources[0]!, 7), sources[0]!)).toMatchObject({ ok: true, value: 7 });
      // One batch per task, and one more: the last task sent again with its source.
      expect(pool.stats()).toMatchObject({ forked: 2, batches: sources.length + 2 }); // start()'s child, retired, and one
    });
    await withPool({ size: 1, maxFunctionsPerChild: 3 }, async (pool) => {
      for (const letter of ["a", "b", "c", "d"]) {
        const src = `(x) => x + '${letter}'`;
        expect(await pool.run(await task(src, "x"), src)).toMatchObject({ ok: true, value: `x${letter}` });
      }
      expect(pool.stats().forked).toBe(3); // start()'s, the first, and its replacement
    });
  });

  it("passes a running task's progress on", async () => {
    await withPool({ size: 1 }, async (pool) => {
      const source = "async (x, ctx) => { ctx.progress(0.5, 'half'); await new Promise((r) => setTimeout(r, 150)); return x; }";
      const seen: Array<[number, string | undefined]> = [];
      const outcome = await pool.run(await task(source, "done"), source, undefined, (f, m) => seen.push([f, m]));
      expect(outcome).toMatchObject({ ok: true, value: "done" });
      expect(seen).toEqual([[0.5, "half"]]);
    });
  });
});
