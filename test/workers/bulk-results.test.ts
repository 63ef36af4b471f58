// Many results, leases and inputs in one request: the coordinator records
// them with a few statements per request, and must judge each exactly as if
// it came alone, in the order the agent sent them.
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:test";
import { call, poll, report, submit, tasksOf } from "./helpers.js";

const fn = "(x) => x";
type Task = ReturnType<typeof tasksOf>[number];

const stats = (queue: string) => env.QUEUE.get(env.QUEUE.idFromName(queue)).stats();
const job = async (jobId: string) => (await call("GET", `/v1/jobs/${jobId}`)).body;
const resultsOf = async (batchId: string) => (await call("GET", `/v1/batches/${batchId}/results?limit=1000`)).body.results as any[];

/** A fixed shuffle (so a failure can be replayed): the request order must not matter to correctness. */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("results in bulk", () => {
  it("a result reported twice in one request is recorded once; the second copy is stale", async () => {
    const sub = await submit({ fn, inputs: [1, 2], queue: "bulk-twice" });
    const [t0, t1] = tasksOf((await poll({ slots: 2, wait: 0, queue: "bulk-twice" }, "twice-agent")).body) as [Task, Task];
    const hb = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [t0.leaseId, t0.leaseId, t1.leaseId] }, agentId: "twice-agent" });
    expect(hb.body).toMatchObject({ active: [t0.leaseId, t0.leaseId, t1.leaseId], cancelled: [], stale: [] });
    const ack = await report(
      [
        { leaseId: t0.leaseId, ok: true, value: "first" },
        { leaseId: t0.leaseId, ok: true, value: "second" },
        { leaseId: t1.leaseId, ok: false, error: { name: "Error", message: "nope" } },
        { leaseId: t1.leaseId, ok: true, value: "late" },
      ],
      "twice-agent",
    );
    expect(ack.body).toEqual({ accepted: [t0.leaseId, t1.leaseId], stale: [t0.leaseId, t1.leaseId] });
    const first = await job(t0.jobId);
    expect(first).toMatchObject({ state: "done", value: "first", attempts: 1, failures: 0 });
    expect(first.history).toEqual([expect.objectContaining({ attempt: 1, outcome: "ok", agentHeld: 1 })]);
    const second = await job(t1.jobId);
    expect(second).toMatchObject({ state: "queued", attempts: 1, failures: 1 });
    expect(second.history).toEqual([expect.objectContaining({ outcome: "error", error: { name: "Error", message: "nope" }, agentHeld: 2 })]);
    expect((await resultsOf(sub.body.batchId)).map((r) => [r.seq, r.value])).toEqual([[1, "first"]]);
    expect((await stats("bulk-twice")).totals).toMatchObject({ jobs_done: 1, retries: 1 });
  });

  it("300 results of every kind in one request are each judged as if sent alone, in order", async () => {
    const queue = "bulk-mix";
    const a = await submit({ fn, inputs: Array.from({ length: 240 }, (_, i) => i), queue, maxAttempts: 2, priority: 1 });
    const b = await submit({ fn, inputs: Array.from({ length: 20 }, (_, i) => 1000 + i), queue, maxAttempts: 1 });
    const mine = tasksOf((await poll({ slots: 256, wait: 0, queue }, "mix-a")).body);
    const theirs = tasksOf((await poll({ slots: 4, wait: 0, queue }, "mix-b")).body);
    expect(mine.slice(0, 240).every((t) => t.jobId.startsWith(a.body.batchId + "."))).toBe(true);
    const [aTasks, bTasks] = [mine.slice(0, 240), mine.slice(240)];
    // Two of the other agent's leases are confirmed, two are not.
    await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [theirs[0]!.leaseId, theirs[1]!.leaseId] }, agentId: "mix-b" });

    const big = "x".repeat(1024 * 1024 + 1);
    const items: Array<{ leaseId: string; [k: string]: unknown }> = [
      ...aTasks.slice(0, 200).map((t) => ({ leaseId: t.leaseId, ok: true, value: t.input })),
      ...aTasks.slice(200, 220).map((t) => ({ leaseId: t.leaseId, ok: false, error: { name: "Error", message: `boom ${t.input}` } })),
      ...aTasks.slice(220, 230).map((t) => ({ leaseId: t.leaseId, ok: false, rejected: "signature_rejected" })),
      { leaseId: aTasks[230]!.leaseId, ok: true, value: big },
      ...bTasks.map((t, i) => (i % 2 ? { leaseId: t.leaseId, ok: true, value: t.input } : { leaseId: t.leaseId, ok: false, error: { name: "Error", message: `b ${t.input}` } })),
      { leaseId: theirs[0]!.leaseId, ok: false, rejected: "signature_rejected" }, // confirmed: stale
      { leaseId: theirs[1]!.leaseId, ok: true, value: 0 }, // not refusing: stale
      { leaseId: theirs[2]!.leaseId, ok: false, rejected: "wrong_agent" }, // unconfirmed, refused: back, no attempt spent
      { leaseId: theirs[3]!.leaseId, ok: false, rejected: "wrong_agent" },
      ...Array.from({ length: 5 }, (_, i) => ({ leaseId: `${queue}.nosuchlease${i}`, ok: true, value: i })),
    ];
    // Second copies of the same kind as the first, told apart by value or message: the first one sent must win.
    const copies = [...aTasks.slice(0, 10), ...aTasks.slice(200, 220), ...bTasks.slice(0, 14)].map((t) => {
      const original = items.find((r) => r.leaseId === t.leaseId)!;
      return original.ok ? { leaseId: t.leaseId, ok: true, value: -1 } : { leaseId: t.leaseId, ok: false, error: { name: "Error", message: "copy" } };
    });
    const request = shuffled([...items, ...copies]);
    expect(request).toHaveLength(300);

    // What each result should come to, judged one at a time in request order.
    const foreignStale = new Set([theirs[0]!.leaseId, theirs[1]!.leaseId]);
    const known = new Set([...mine, theirs[2]!, theirs[3]!].map((t) => t.leaseId));
    const seen = new Set<string>();
    const accepted: string[] = [];
    const stale: string[] = [];
    for (const r of request) {
      if (known.has(r.leaseId) && !foreignStale.has(r.leaseId) && !seen.has(r.leaseId)) accepted.push(r.leaseId);
      else stale.push(r.leaseId);
      seen.add(r.leaseId);
    }
    const ack = await report(request, "mix-a");
    expect(ack.status).toBe(200);
    expect(ack.body).toEqual({ accepted, stale });

    // Completion order: contiguous from 1 in each batch, in the order the finishing results came; the first copy wins.
    const firstOf = new Map<string, (typeof request)[number]>();
    for (const r of request) if (!firstOf.has(r.leaseId)) firstOf.set(r.leaseId, r);
    const finishing = (tasks: Task[]) => {
      const byLease = new Map(tasks.map((t) => [t.leaseId, t.jobId]));
      return [...firstOf.values()].filter((r) => byLease.has(r.leaseId)).map((r) => [byLease.get(r.leaseId), r.ok ? r.value : (r.error as any).message]);
    };
    const aResults = await resultsOf(a.body.batchId);
    expect(aResults.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(aResults.map((r) => [r.jobId, r.value])).toEqual(finishing(aTasks.slice(0, 200)));
    const bResults = await resultsOf(b.body.batchId);
    expect(bResults.map((r) => r.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(bResults.map((r) => [r.jobId, r.ok ? r.value : r.error.message])).toEqual(finishing(bTasks));
    expect(bResults.filter((r) => r.ok)).toHaveLength(8);

    // Every kind of job, every lifecycle field that moved.
    expect(await job(aTasks[5]!.jobId)).toMatchObject({ state: "done", attempts: 1, failures: 0, value: firstOf.get(aTasks[5]!.leaseId)!.value, history: [{ outcome: "ok", agentHeld: 6 }] });
    const retried = await job(aTasks[205]!.jobId);
    const retriedWith = (firstOf.get(aTasks[205]!.leaseId)!.error as any).message;
    expect(retried).toMatchObject({ state: "queued", attempts: 1, failures: 1, history: [{ outcome: "error", error: { message: retriedWith }, agentHeld: 206 }] });
    expect(retried.value).toBeUndefined();
    const refused = await job(aTasks[225]!.jobId);
    expect(refused).toMatchObject({ state: "queued", attempts: 1, failures: 1, history: [{ outcome: "rejected", rejected: "signature_rejected" }] });
    expect(refused.history[0].error).toBeUndefined();
    expect(await job(aTasks[230]!.jobId)).toMatchObject({ state: "queued", failures: 1, history: [{ outcome: "error", error: { code: "result_too_large" } }] });
    expect(await job(bTasks[0]!.jobId)).toMatchObject({ state: "failed", ok: false, failures: 1, error: { message: (firstOf.get(bTasks[0]!.leaseId)!.error as any).message }, history: [{ agentHeld: 241 }] });
    expect(await job(bTasks[1]!.jobId)).toMatchObject({ state: "done", value: firstOf.get(bTasks[1]!.leaseId)!.value, failures: 0 });
    expect(await job(theirs[0]!.jobId)).toMatchObject({ state: "leased", history: [{ outcome: "running" }] });
    expect(await job(theirs[1]!.jobId)).toMatchObject({ state: "leased", history: [{ outcome: "running" }] });
    expect(await job(theirs[2]!.jobId)).toMatchObject({ state: "queued", attempts: 1, failures: 0, history: [{ outcome: "rejected", rejected: "wrong_agent" }] });

    const { byState, totals } = await stats(queue);
    expect(totals).toMatchObject({ jobs_done: 208, jobs_failed: 8, retries: 31 });
    // Nine of the agent's own leases got no result; two of the other agent's are still its own.
    expect(byState).toEqual({ done: 208, failed: 8, queued: 20 + 10 + 1 + 2, leased: 9 + 2 });
    const batchA = (await call("GET", `/v1/batches/${a.body.batchId}`)).body;
    expect(batchA.counts).toMatchObject({ done: 200, queued: 31, leased: 9 });
  });

  it("a request of successes only, across two batches: stale ones take no place in the order", async () => {
    const queue = "bulk-ok";
    const a = await submit({ fn, inputs: Array.from({ length: 6 }, (_, i) => i), queue, priority: 1 });
    const b = await submit({ fn, inputs: Array.from({ length: 4 }, (_, i) => 100 + i), queue });
    const mine = tasksOf((await poll({ slots: 8, wait: 0, queue }, "ok-a")).body);
    const theirs = tasksOf((await poll({ slots: 2, wait: 0, queue }, "ok-b")).body);
    const [aTasks, bTasks] = [mine.slice(0, 6), mine.slice(6)];
    expect(bTasks.every((t) => t.jobId.startsWith(b.body.batchId + "."))).toBe(true);
    // One of a's already finished by an earlier request: naming it again is stale.
    expect((await report([{ leaseId: aTasks[0]!.leaseId, ok: true, value: "early" }], "ok-a")).body).toEqual({ accepted: [aTasks[0]!.leaseId], stale: [] });

    const awkward = `"\\\u0000é😀\u2028<>`;
    const request = [
      { leaseId: bTasks[1]!.leaseId, ok: true, value: "b1" },
      { leaseId: aTasks[3]!.leaseId, ok: true, value: { s: awkward } },
      { leaseId: theirs[0]!.leaseId, ok: true, value: "not mine" },
      { leaseId: aTasks[0]!.leaseId, ok: true, value: "again" },
      { leaseId: aTasks[1]!.leaseId, ok: true, value: null },
      { leaseId: `${queue}.nosuchlease`, ok: true, value: 1 },
      { leaseId: bTasks[0]!.leaseId, ok: true, value: "b0" },
      { leaseId: aTasks[5]!.leaseId, ok: true, value: [awkward, 5] },
    ];
    const ack = await report(request, "ok-a");
    const stale = new Set([theirs[0]!.leaseId, aTasks[0]!.leaseId, `${queue}.nosuchlease`]);
    expect(ack.body).toEqual({ accepted: request.filter((r) => !stale.has(r.leaseId)).map((r) => r.leaseId), stale: request.filter((r) => stale.has(r.leaseId)).map((r) => r.leaseId) });

    // Each batch's order goes on from its counter, contiguous, in the order sent.
    expect((await resultsOf(a.body.batchId)).map((r) => [r.seq, r.jobId, r.value])).toEqual([
      [1, aTasks[0]!.jobId, "early"],
      [2, aTasks[3]!.jobId, { s: awkward }],
      [3, aTasks[1]!.jobId, null],
      [4, aTasks[5]!.jobId, [awkward, 5]],
    ]);
    expect((await resultsOf(b.body.batchId)).map((r) => [r.seq, r.jobId, r.value])).toEqual([
      [1, bTasks[1]!.jobId, "b1"],
      [2, bTasks[0]!.jobId, "b0"],
    ]);
    expect(await job(aTasks[3]!.jobId)).toMatchObject({ state: "done", ok: true, attempts: 1, failures: 0, history: [{ outcome: "ok", agentId: expect.any(String), agentHeld: 4 }] });
    expect(await job(theirs[0]!.jobId)).toMatchObject({ state: "leased", history: [{ outcome: "running" }] });
    const { byState, totals } = await stats(queue);
    expect(totals).toMatchObject({ jobs_done: 6 });
    expect(byState).toEqual({ done: 6, leased: 4 });
    const batchB = (await call("GET", `/v1/batches/${b.body.batchId}`)).body;
    expect(batchB).toMatchObject({ done: false, counts: { done: 2, leased: 2 } });
    // The rest of b, and b is done.
    const rest = [...bTasks.slice(2), ...theirs].filter((t) => t.jobId.startsWith(b.body.batchId + "."));
    for (const t of rest) await report([{ leaseId: t.leaseId, ok: true, value: "late" }], theirs.includes(t) ? "ok-b" : "ok-a");
    expect((await call("GET", `/v1/batches/${b.body.batchId}`)).body).toMatchObject({ done: true, counts: { done: 4 } });
    expect((await resultsOf(b.body.batchId)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  });

  it("large inputs and results come back exactly as sent", async () => {
    const awkward = `"\\\u0000é😀\u2028<>` + '"'.repeat(300_000); // grows when written as JSON inside JSON
    const inputs = [{ s: "a".repeat(400_000) }, { s: "b".repeat(400_000) }, { s: awkward }, "é😀\u0000", 7];
    const sub = await submit({ fn, inputs, queue: "bulk-big" });
    const tasks = tasksOf((await poll({ slots: 5, wait: 0, queue: "bulk-big" }, "big-agent")).body);
    expect(tasks.map((t) => t.input)).toEqual(inputs);
    const ack = await report(
      tasks.map((t) => ({ leaseId: t.leaseId, ok: true, value: t.input })),
      "big-agent",
    );
    expect(ack.body.accepted).toHaveLength(5);
    const results = await resultsOf(sub.body.batchId);
    expect(results.map((r) => r.value)).toEqual(inputs);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
