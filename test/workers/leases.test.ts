import { describe, expect, it } from "vitest";
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { call, poll, report, submit, tasksOf } from "./helpers.js";

const fn = "(x) => x * 2";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("leases and fencing", () => {
  it("a result posted after the lease expired is refused as stale and not recorded; the job runs again", async () => {
    const sub = await submit({ fn, input: 21, queue: "lease-expiry", timeoutMs: 50, graceMs: 0 });
    const first = tasksOf((await poll({ slots: 1, wait: 0, queue: "lease-expiry" }, "slow-agent")).body)[0]!;
    await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [first.leaseId] }, agentId: "slow-agent" });
    await sleep(120);
    const stub = env.QUEUE.get(env.QUEUE.idFromName("lease-expiry"));
    await runDurableObjectAlarm(stub);
    const late = await report([{ leaseId: first.leaseId, ok: true, value: 999 }], "slow-agent");
    expect(late.body).toEqual({ accepted: [], stale: [first.leaseId] });

    let job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "queued", attempts: 1, failures: 1 });
    expect(job.body.value).toBeUndefined();
    expect(job.body.history[0]).toMatchObject({ outcome: "expired", agentId: expect.stringMatching(/^slow-agent-/), error: { code: "lease_expired" } });

    const second = tasksOf((await poll({ slots: 1, wait: 0, queue: "lease-expiry" }, "fast-agent")).body)[0]!;
    expect(second).toMatchObject({ jobId: first.jobId, attempt: 2 });
    expect(second.leaseId).not.toBe(first.leaseId);
    const ok = await report([{ leaseId: second.leaseId, ok: true, value: 42 }], "fast-agent");
    expect(ok.body).toEqual({ accepted: [second.leaseId], stale: [] });
    job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "done", value: 42, attempts: 2, agentId: expect.stringMatching(/^fast-agent-/) });
  });

  it("an expired lease is caught even before the alarm runs", async () => {
    await submit({ fn, input: 1, queue: "lease-early", timeoutMs: 20, graceMs: 0 });
    const task = tasksOf((await poll({ slots: 1, wait: 0, queue: "lease-early" })).body)[0]!;
    await sleep(60);
    const late = await report([{ leaseId: task.leaseId, ok: true, value: 2 }]);
    expect(late.body.stale).toEqual([task.leaseId]);
  });

  it("a superseded lease cannot overwrite the newer attempt's result, and a duplicate post changes nothing", async () => {
    const sub = await submit({ fn, input: 5, queue: "lease-super", timeoutMs: 30, graceMs: 0 });
    const old = tasksOf((await poll({ slots: 1, wait: 0, queue: "lease-super" }, "a1")).body)[0]!;
    await sleep(60);
    await runDurableObjectAlarm(env.QUEUE.get(env.QUEUE.idFromName("lease-super")));
    const fresh = tasksOf((await poll({ slots: 1, wait: 0, queue: "lease-super" }, "a2")).body)[0]!;
    expect((await report([{ leaseId: fresh.leaseId, ok: true, value: 10 }], "a2")).body.accepted).toEqual([fresh.leaseId]);
    expect((await report([{ leaseId: fresh.leaseId, ok: true, value: 11 }], "a2")).body.stale).toEqual([fresh.leaseId]);
    expect((await report([{ leaseId: old.leaseId, ok: true, value: 12 }], "a1")).body.stale).toEqual([old.leaseId]);
    const page = await call("GET", `/v1/batches/${sub.body.batchId}/results`);
    expect(page.body.results).toHaveLength(1);
    expect(page.body.results[0]).toMatchObject({ value: 10, agentId: expect.stringMatching(/^a2-/), attempt: 2 });
  });

  it("a failed attempt is retried with backoff, and the last failure fails the job with its error", async () => {
    const sub = await submit({ fn, input: 1, queue: "retry", maxAttempts: 2 });
    const t1 = tasksOf((await poll({ slots: 1, wait: 0, queue: "retry" })).body)[0]!;
    await report([{ leaseId: t1.leaseId, ok: false, error: { name: "TypeError", message: "boom 1" } }]);
    let job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "queued", attempts: 1 });
    // Backoff: not available again at once.
    expect((await poll({ slots: 1, wait: 0, queue: "retry" })).status).toBe(204);
    const t2 = tasksOf((await poll({ slots: 1, wait: 5, queue: "retry" })).body)[0]!;
    expect(t2.attempt).toBe(2);
    await report([{ leaseId: t2.leaseId, ok: false, error: { name: "TypeError", message: "boom 2" } }]);
    job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "failed", ok: false, attempts: 2, error: { message: "boom 2" } });
    expect(job.body.history.map((h: any) => h.error.message)).toEqual(["boom 1", "boom 2"]);
  });

  it("a task the agent rejected goes back to the queue and the rejection is kept", async () => {
    const sub = await submit({ fn, input: 1, queue: "rejected" });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "rejected" })).body)[0]!;
    const ack = await report([{ leaseId: t.leaseId, ok: false, rejected: "signature_rejected" }]);
    expect(ack.body.accepted).toEqual([t.leaseId]);
    const job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body.state).toBe("queued");
    expect(job.body.history[0]).toMatchObject({ outcome: "rejected", rejected: "signature_rejected" });
  });
});

describe("delivery leases and release", () => {
  it("a task handed to a poller that never confirms comes back after the delivery window without spending an attempt", async () => {
    const sub = await submit({ fn, input: 3, queue: "ghost", maxAttempts: 1 });
    const ghost = tasksOf((await poll({ slots: 1, wait: 0, queue: "ghost" }, "ghost")).body)[0]!;
    await sleep(1100); // DELIVERY_LEASE_MS is 1000 in this test configuration
    await runDurableObjectAlarm(env.QUEUE.get(env.QUEUE.idFromName("ghost")));
    let job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "queued", attempts: 1, failures: 0 });
    expect(job.body.history[0]).toMatchObject({ agentId: expect.stringMatching(/^ghost-/), outcome: "expired", error: { code: "not_delivered" } });
    const real = tasksOf((await poll({ slots: 1, wait: 0, queue: "ghost" }, "real")).body)[0]!;
    expect(real.attempt).toBe(2);
    expect((await report([{ leaseId: ghost.leaseId, ok: true, value: 0 }], "ghost")).body.stale).toEqual([ghost.leaseId]);
    await report([{ leaseId: real.leaseId, ok: true, value: 6 }], "real");
    job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "done", value: 6, attempts: 2, failures: 0 });
  });

  it("a confirmed lease outlives the delivery window", async () => {
    await submit({ fn, input: 3, queue: "confirmed", timeoutMs: 5000 });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "confirmed" })).body)[0]!;
    const hb = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [t.leaseId] } });
    expect(hb.body.active).toEqual([t.leaseId]);
    await sleep(1100);
    await runDurableObjectAlarm(env.QUEUE.get(env.QUEUE.idFromName("confirmed")));
    expect((await report([{ leaseId: t.leaseId, ok: true, value: 6 }])).body.accepted).toEqual([t.leaseId]);
  });

  it("released leases go back at once without spending an attempt, and unconfirmed ones of the agent with them", async () => {
    const sub = await submit({ fn, inputs: [1, 2, 3], queue: "release", maxAttempts: 1 });
    const [a, b, c] = tasksOf((await poll({ slots: 3, wait: 0, queue: "release" }, "leaving")).body);
    await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [a!.leaseId, b!.leaseId] }, agentId: "leaving" });
    const res = await call("POST", "/v1/agent/release", { body: { queue: "release", leaseIds: [a!.leaseId], unconfirmed: true }, agentId: "leaving" });
    expect(res.status).toBe(200);
    expect(res.body.released.sort()).toEqual([a!.leaseId, c!.leaseId].sort());
    const jobA = (await call("GET", `/v1/jobs/${a!.jobId}`)).body;
    expect(jobA).toMatchObject({ state: "queued", failures: 0, attempts: 1 });
    expect(jobA.history[0]).toMatchObject({ outcome: "released" });
    expect((await call("GET", `/v1/jobs/${b!.jobId}`)).body.state).toBe("leased");
    const again = tasksOf((await poll({ slots: 3, wait: 0, queue: "release" }, "other")).body);
    expect(again.map((t) => t.jobId).sort()).toEqual([a!.jobId, c!.jobId].sort());
    expect(sub.status).toBe(201);
  });

  it("a lease named twice in one release is released once; the repeat is stale", async () => {
    await submit({ fn, input: 1, queue: "release-twice" });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "release-twice" }, "twice")).body)[0]!;
    const res = await call("POST", "/v1/agent/release", { body: { queue: "release-twice", leaseIds: [t.leaseId, t.leaseId] }, agentId: "twice" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ released: [t.leaseId], stale: [t.leaseId] });
    const job = (await call("GET", `/v1/jobs/${t.jobId}`)).body;
    expect(job).toMatchObject({ state: "queued", attempts: 1, failures: 0 });
    expect(job.history).toEqual([expect.objectContaining({ attempt: 1, outcome: "released" })]);
  });

  it("an agent cannot release another agent's lease", async () => {
    await submit({ fn, input: 1, queue: "release-owner" });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "release-owner" }, "owner")).body)[0]!;
    const res = await call("POST", "/v1/agent/release", { body: { queue: "release-owner", leaseIds: [t.leaseId] }, agentId: "intruder" });
    expect(res.body).toEqual({ released: [], stale: [t.leaseId] });
    expect((await call("GET", `/v1/jobs/${t.jobId}`)).body.state).toBe("leased");
  });

  it("release with unconfirmed ends the agent's parked long-poll", async () => {
    const started = Date.now();
    const parked = poll({ slots: 1, wait: 10, queue: "parked" }, "quitter");
    await sleep(100);
    await call("POST", "/v1/agent/release", { body: { queue: "parked", unconfirmed: true }, agentId: "quitter" });
    expect((await parked).status).toBe(204);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("dead letters", () => {
  it("failed jobs are listed and can be re-queued, and then take a new place in the completion order", async () => {
    const sub = await submit({ fn, inputs: [1, 2], queue: "dlq", maxAttempts: 1 });
    const [t1, t2] = tasksOf((await poll({ slots: 2, wait: 0, queue: "dlq" })).body);
    await report([
      { leaseId: t1!.leaseId, ok: false, error: { name: "Error", message: "bad luck" } },
      { leaseId: t2!.leaseId, ok: true, value: 4 },
    ]);
    const failed = await call("GET", `/v1/batches/${sub.body.batchId}/jobs?state=failed`);
    expect(failed.body.jobs.map((j: any) => j.id)).toEqual([t1!.jobId]);
    expect(failed.body.jobs[0]).toMatchObject({ state: "failed", failures: 1, error: { message: "bad luck" } });
    expect(failed.body.more).toBe(false);
    const all = await call("GET", `/v1/batches/${sub.body.batchId}/jobs?limit=1`);
    expect(all.body).toMatchObject({ next: 0, more: true });
    expect((await call("GET", `/v1/batches/${sub.body.batchId}`)).body.done).toBe(true);

    const retry = await call("POST", `/v1/jobs/${t1!.jobId}/retry`);
    expect(retry.body).toEqual({ requeued: 1 });
    expect((await call("GET", `/v1/batches/${sub.body.batchId}`)).body).toMatchObject({ done: false, counts: { queued: 1, done: 1, failed: 0 } });
    const page = await call("GET", `/v1/batches/${sub.body.batchId}/results`);
    expect(page.body).toMatchObject({ done: false });
    expect(page.body.results.map((r: any) => r.jobId)).toEqual([t2!.jobId]);

    const t3 = tasksOf((await poll({ slots: 1, wait: 0, queue: "dlq" })).body)[0]!;
    expect(t3).toMatchObject({ jobId: t1!.jobId, attempt: 2 });
    await report([{ leaseId: t3.leaseId, ok: true, value: 2 }]);
    const end = await call("GET", `/v1/batches/${sub.body.batchId}/results?after=${page.body.next}`);
    expect(end.body.results.map((r: any) => [r.jobId, r.seq])).toEqual([[t1!.jobId, 3]]);
    expect(end.body.done).toBe(true);
    expect((await call("POST", `/v1/batches/${sub.body.batchId}/retry`)).body).toEqual({ requeued: 0 });
  });
});

describe("heartbeats and cancellation", () => {
  it("a heartbeat extends a running lease and tells the agent which were cancelled", async () => {
    const sub = await submit({ fn, inputs: [1, 2], queue: "hb", timeoutMs: 50, graceMs: 200 });
    const [a, b] = tasksOf((await poll({ slots: 2, wait: 0, queue: "hb" })).body);
    const cancel = await call("DELETE", `/v1/jobs/${sub.body.jobIds[1]}`);
    expect(cancel.body).toEqual({ cancelled: 1 });
    const hb = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [a!.leaseId, b!.leaseId, "default.nonexistentleaseid0"] } });
    expect(hb.body).toEqual({ active: [a!.leaseId], cancelled: [b!.leaseId], stale: ["default.nonexistentleaseid0"] });
    // The lease ran 250 ms from the grant; a heartbeat at ~150 ms keeps it 200 ms ahead.
    await sleep(150);
    expect((await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [a!.leaseId] } })).body.active).toEqual([a!.leaseId]);
    await sleep(150);
    const hb2 = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [a!.leaseId] } });
    expect(hb2.body.active).toEqual([a!.leaseId]);
    const late = await report([{ leaseId: b!.leaseId, ok: true, value: 4 }]);
    expect(late.body.stale).toEqual([b!.leaseId]);
    const job = await call("GET", `/v1/jobs/${sub.body.jobIds[1]}`);
    expect(job.body).toMatchObject({ state: "cancelled", ok: false, error: { code: "cancelled" } });
  });

  it("cancelling a batch cancels what is not finished and completes its result stream", async () => {
    const sub = await submit({ fn, inputs: [1, 2, 3], queue: "cancel-batch" });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "cancel-batch" })).body)[0]!;
    await report([{ leaseId: t.leaseId, ok: true, value: 2 }]);
    const res = await call("DELETE", `/v1/batches/${sub.body.batchId}`);
    expect(res.body).toEqual({ cancelled: 2 });
    const batch = await call("GET", `/v1/batches/${sub.body.batchId}`);
    expect(batch.body).toMatchObject({ done: true, counts: { done: 1, cancelled: 2, queued: 0 } });
    const page = await call("GET", `/v1/batches/${sub.body.batchId}/results`);
    expect(page.body.results.map((r: any) => r.ok)).toEqual([true, false, false]);
    expect(page.body.done).toBe(true);
    expect((await poll({ slots: 5, wait: 0, queue: "cancel-batch" })).status).toBe(204);
  });
});

describe("idempotent submit", () => {
  it("the same Idempotency-Key and body return the same batch; a different body is 409", async () => {
    const body = { fn, inputs: [1, 2], queue: "idem" };
    const a = await submit(body, { "idempotency-key": "k-1" });
    const b = await submit(body, { "idempotency-key": "k-1" });
    expect(a.status).toBe(201);
    expect(b.body).toEqual(a.body);
    const c = await submit({ ...body, inputs: [3] }, { "idempotency-key": "k-1" });
    expect(c.status).toBe(409);
    expect(c.body.error.code).toBe("idempotency_conflict");
    const batch = await call("GET", `/v1/batches/${a.body.batchId}`);
    expect(batch.body.total).toBe(2);
  });
});

describe("exchange: the agent's cycle in one request", () => {
  it("records results, confirms leases with progress, then hands out the next tasks", async () => {
    const sub = await submit({ fn, inputs: [1, 2, 3, 4], queue: "exchange" });
    const first = await call("POST", "/v1/agent/exchange", { body: { queue: "exchange", slots: 2, wait: 0 }, agentId: "ex" });
    expect(first.status).toBe(200);
    const [a, b] = tasksOf(first.body.envelope);
    expect(first.body.results).toEqual({ accepted: [], stale: [] });
    const second = await call("POST", "/v1/agent/exchange", {
      body: {
        queue: "exchange",
        slots: 2,
        wait: 0,
        results: [{ leaseId: a!.leaseId, ok: true, value: 2 }],
        leaseIds: [b!.leaseId],
        progress: [{ leaseId: b!.leaseId, fraction: 0.25 }],
      },
      agentId: "ex",
    });
    expect(second.body.results).toEqual({ accepted: [a!.leaseId], stale: [] });
    expect(second.body.heartbeat).toEqual({ active: [b!.leaseId], cancelled: [], stale: [] });
    expect(tasksOf(second.body.envelope).map((t) => t.input)).toEqual([3, 4]);
    expect((await call("GET", `/v1/jobs/${b!.jobId}`)).body.progress.fraction).toBe(0.25);
    expect((await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`)).body).toMatchObject({ state: "done", value: 2 });
  });

  it("with slots 0 it only reports, and leases of another queue are stale", async () => {
    await submit({ fn, input: 1, queue: "exchange-2" });
    const t = tasksOf((await call("POST", "/v1/agent/exchange", { body: { queue: "exchange-2", slots: 1 }, agentId: "ex2" })).body.envelope)[0]!;
    const res = await call("POST", "/v1/agent/exchange", {
      body: { queue: "exchange-other", slots: 0, results: [{ leaseId: t.leaseId, ok: true, value: 2 }], leaseIds: [t.leaseId] },
      agentId: "ex2",
    });
    expect(res.body).toEqual({ envelope: null, results: { accepted: [], stale: [t.leaseId] }, heartbeat: { active: [], cancelled: [], stale: [t.leaseId] } });
    const ok = await call("POST", "/v1/agent/exchange", { body: { queue: "exchange-2", slots: 0, results: [{ leaseId: t.leaseId, ok: true, value: 2 }] }, agentId: "ex2" });
    expect(ok.body.results.accepted).toEqual([t.leaseId]);
  });
});

describe("only the lease's agent speaks for it", () => {
  it("another agent's heartbeat and result for a lease are stale", async () => {
    const sub = await submit({ fn, input: 4, queue: "owner" });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "owner" }, "holder")).body)[0]!;
    await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [t.leaseId] }, agentId: "holder" });
    const hb = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [t.leaseId] }, agentId: "meddler" });
    expect(hb.body).toEqual({ active: [], cancelled: [], stale: [t.leaseId] });
    expect((await report([{ leaseId: t.leaseId, ok: true, value: 0 }], "meddler")).body.stale).toEqual([t.leaseId]);
    expect((await report([{ leaseId: t.leaseId, ok: false, rejected: "wrong_agent" }], "meddler")).body.stale).toEqual([t.leaseId]);
    expect((await report([{ leaseId: t.leaseId, ok: true, value: 8 }], "holder")).body.accepted).toEqual([t.leaseId]);
    expect((await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`)).body).toMatchObject({ state: "done", value: 8 });
  });

  it("an agent handed another's unconfirmed envelope may refuse it: the task goes back without spending an attempt", async () => {
    const sub = await submit({ fn, input: 4, queue: "misrouted", maxAttempts: 1 });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "misrouted" }, "addressee")).body)[0]!;
    expect((await report([{ leaseId: t.leaseId, ok: false, rejected: "wrong_agent" }], "receiver")).body.accepted).toEqual([t.leaseId]);
    const job = (await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`)).body;
    expect(job).toMatchObject({ state: "queued", failures: 0 });
    expect(job.history[0]).toMatchObject({ outcome: "rejected", rejected: "wrong_agent" });
  });
});
