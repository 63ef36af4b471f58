// Large batches: the jobs past the first STAGE_ROWS are staged at submit and
// become rows when a claim needs them, or when anything else reads jobs
// (src/queue/staged.ts). Order, priority, views, cancel and restarts must be
// exactly as if every row had been written at submit.
import { describe, expect, it } from "vitest";
import { env, runInDurableObject } from "cloudflare:test";
import { STAGE_ROWS } from "../../src/queue/staged.js";
import { call, poll, report, submit, tasksOf } from "./helpers.js";

const fn = "(x) => x";
const stubOf = (queue: string) => env.QUEUE.get(env.QUEUE.idFromName(queue));
const inputs = (n: number, base = 0) => Array.from({ length: n }, (_, i) => base + i);

/** Staged chunks and jobs rows of a queue, straight from its SQLite. */
async function storage(queue: string): Promise<{ chunks: number; stagedJobs: number; rows: number }> {
  return runInDurableObject(stubOf(queue), (_obj, state: DurableObjectState) => {
    const staged = state.storage.sql.exec<{ c: number; n: number | null }>("SELECT COUNT(*) AS c, SUM(n) AS n FROM staged").one();
    const rows = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM jobs").one().n;
    return { chunks: staged.c, stagedJobs: staged.n ?? 0, rows };
  });
}

/** Polls `times` times with `slots` and returns each task's input, in the order given. */
async function drain(queue: string, slots: number, times: number, agent = "staged-agent"): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < times; i++) {
    const answer = await poll({ slots, wait: 0, queue }, agent);
    if (answer.status !== 200 || !answer.body?.payload) break;
    out.push(...tasksOf(answer.body).map((t) => t.input));
  }
  return out;
}

describe("staged batches", () => {
  it("a large batch is written as its first chunk of rows and staged chunks, and handed out in order across them", async () => {
    const queue = "staged-order";
    const n = STAGE_ROWS * 2 + 37;
    await submit({ fn, inputs: inputs(n), queue });
    expect(await storage(queue)).toEqual({ chunks: 2, stagedJobs: STAGE_ROWS + 37, rows: STAGE_ROWS });
    // A later small batch of the same priority comes after all of the large one.
    await submit({ fn, inputs: inputs(5, 10_000), queue });
    const got = await drain(queue, 256, 20);
    expect(got).toEqual([...inputs(n), ...inputs(5, 10_000)]);
    expect(await storage(queue)).toEqual({ chunks: 0, stagedJobs: 0, rows: n + 5 });
  });

  it("a staged chunk of higher priority goes before rows of lower priority", async () => {
    const queue = "staged-priority";
    await submit({ fn, inputs: inputs(STAGE_ROWS + 10), queue, priority: 0 });
    await submit({ fn, inputs: inputs(STAGE_ROWS * 2, 5_000), queue, priority: 3 });
    const first = await drain(queue, 256, Math.ceil((STAGE_ROWS * 2) / 256));
    expect(first.slice(0, STAGE_ROWS * 2)).toEqual(inputs(STAGE_ROWS * 2, 5_000));
    const rest = await drain(queue, 256, 10);
    expect([...first.slice(STAGE_ROWS * 2), ...rest]).toEqual(inputs(STAGE_ROWS + 10));
  });

  it("a claim turns as many staged chunks into rows as it asks for jobs, when large inputs make chunks small", async () => {
    const queue = "staged-small-chunks";
    // ~5 KB each: a chunk holds about a hundred, fewer than a claim of 256 asks for.
    const big = Array.from({ length: 400 }, (_, i) => `${i}:`.padEnd(5_000, "x"));
    await submit({ fn, inputs: big, queue });
    await submit({ fn, inputs: ["after"], queue });
    const { chunks, rows } = await storage(queue);
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(rows).toBeLessThan(256);
    expect(await drain(queue, 256, 5)).toEqual([...big, "after"]);
  });

  it("views, stats and cancel see every job of a batch whose jobs are still staged", async () => {
    const queue = "staged-views";
    const n = STAGE_ROWS * 3;
    const sub = await submit({ fn, inputs: inputs(n), queue });
    const { batchId, jobIds } = sub.body;
    expect((await storage(queue)).chunks).toBe(2);
    const last = await call("GET", `/v1/jobs/${jobIds[n - 1]}`);
    expect(last.status).toBe(200);
    expect(last.body).toMatchObject({ id: jobIds[n - 1], state: "queued" });
    expect(await storage(queue)).toEqual({ chunks: 0, stagedJobs: 0, rows: n });

    const other = await submit({ fn, inputs: inputs(n), queue });
    const batch = (await call("GET", `/v1/batches/${other.body.batchId}`)).body;
    expect(batch).toMatchObject({ total: n, done: false, counts: { queued: n } });

    const third = await submit({ fn, inputs: inputs(n), queue });
    const tasks = tasksOf((await poll({ slots: 10, wait: 0, queue }, "views-agent")).body);
    expect(tasks.every((t) => t.jobId.startsWith(`${batchId}.`))).toBe(true);
    const cancelled = await call("DELETE", `/v1/batches/${third.body.batchId}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({ cancelled: n });
    const stats = await stubOf(queue).stats();
    expect(stats.byState).toEqual({ queued: n - 10 + n, leased: 10, cancelled: n });
    // The cancelled batch is finished: its results are all there, in completion order.
    const results = (await call("GET", `/v1/batches/${third.body.batchId}/results?limit=1000`)).body;
    expect(results.results).toHaveLength(1000);
    expect(results.results.map((r: { seq: number }) => r.seq)).toEqual(inputs(1000, 1));
  });

  it("staged chunks outlive a restart of the object and are handed out after it", async () => {
    const queue = "staged-restart";
    const n = STAGE_ROWS + 120;
    await submit({ fn, inputs: inputs(n), queue });
    await stubOf(queue).reset().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const got = await drain(queue, 256, 10, "restart-agent");
    expect(got).toEqual(inputs(n));
    expect(await storage(queue)).toEqual({ chunks: 0, stagedJobs: 0, rows: n });
  });

  it("a result for a job that was staged is recorded in its batch's completion order", async () => {
    const queue = "staged-results";
    const n = STAGE_ROWS + 3;
    const sub = await submit({ fn, inputs: inputs(n), queue });
    const all: ReturnType<typeof tasksOf> = [];
    while (all.length < n) all.push(...tasksOf((await poll({ slots: 256, wait: 0, queue }, "res-agent")).body));
    expect(all).toHaveLength(n);
    const ack = await report(all.slice(STAGE_ROWS).map((t) => ({ leaseId: t.leaseId, ok: true, value: t.input })), "res-agent");
    expect(ack.body.accepted).toHaveLength(3);
    const results = (await call("GET", `/v1/batches/${sub.body.batchId}/results`)).body.results;
    expect(results.map((r: { seq: number; value: number }) => [r.seq, r.value])).toEqual([[1, STAGE_ROWS], [2, STAGE_ROWS + 1], [3, STAGE_ROWS + 2]]);
  });
});
