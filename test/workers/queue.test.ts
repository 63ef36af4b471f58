import { describe, expect, it } from "vitest";
import { env } from "cloudflare:test";
import { importVerifyKeys, parsePublicKeys, sha256Hex, verifyEnvelope } from "../../src/protocol/index.js";
import { call, idOf, poll, report, submit, tasksOf } from "./helpers.js";

const upper = "(s) => s.toUpperCase()";

describe("submitting and running a batch", () => {
  it("creates one job per input, sharing the function, and reports the batch", async () => {
    const res = await submit({ fn: upper, inputs: ["a", "b", "c"] });
    expect(res.status).toBe(201);
    expect(res.body.jobIds).toHaveLength(3);
    expect(res.body.fnHash).toBe(await sha256Hex(upper));
    expect(res.body.jobIds[0]).toBe(`${res.body.batchId}.0`);
    const batch = await call("GET", `/v1/batches/${res.body.batchId}`);
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ id: res.body.batchId, queue: "default", total: 3, done: false });
    expect(batch.body.counts).toEqual({ queued: 3, leased: 0, done: 0, failed: 0, cancelled: 0 });
  });

  it("signs each poll answer so that an agent holding only the public key can verify it", async () => {
    const sub = await submit({ fn: upper, input: "x", queue: "signing" });
    const res = await poll({ slots: 4, wait: 0, queue: "signing" }, "agent-sig");
    expect(res.status).toBe(200);
    const keys = await importVerifyKeys(await parsePublicKeys(env.TEST_PUBLIC_X));
    const verdict = await verifyEnvelope(res.body, keys, { agentId: await idOf("agent-sig"), now: Date.now() });
    expect(verdict.ok).toBe(true);
    const tasks = tasksOf(res.body);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ jobId: sub.body.jobIds[0], attempt: 1, input: "x", fnHash: sub.body.fnHash, queue: "signing" });
    const keysDoc = await call("GET", "/v1/keys", { token: null });
    expect(keysDoc.body.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", x: env.TEST_PUBLIC_X, kid: res.body.kid });
    expect(JSON.stringify(keysDoc.body)).not.toContain('"d"');
  });

  it("returns results in completion order, not submission order, with every lifecycle field", async () => {
    const sub = await submit({ fn: upper, inputs: ["good", "news", "everyone"], queue: "order" });
    const got = await poll({ slots: 3, wait: 0, queue: "order" });
    const tasks = tasksOf(got.body);
    expect(tasks.map((t) => t.input)).toEqual(["good", "news", "everyone"]);
    // Finish them backwards.
    for (const t of [...tasks].reverse()) {
      const ack = await report([{ leaseId: t.leaseId, ok: true, value: String(t.input).toUpperCase() }]);
      expect(ack.body).toEqual({ accepted: [t.leaseId], stale: [] });
    }
    const page = await call("GET", `/v1/batches/${sub.body.batchId}/results?after=0`);
    expect(page.body.results.map((r: any) => r.value)).toEqual(["EVERYONE", "NEWS", "GOOD"]);
    expect(page.body.results.map((r: any) => r.index)).toEqual([2, 1, 0]);
    expect(page.body).toMatchObject({ next: 3, done: true });
    const job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body).toMatchObject({ state: "done", ok: true, value: "GOOD", attempts: 1, agentId: expect.stringMatching(/^agent-a-/), queue: "order" });
    expect(job.body.startedAt).toBeTypeOf("number");
    expect(job.body.finishedAt).toBeGreaterThanOrEqual(job.body.startedAt);
    expect(job.body.history).toEqual([
      expect.objectContaining({ attempt: 1, agentId: expect.stringMatching(/^agent-a-/), outcome: "ok", agentHeld: 1 }),
    ]);
    // The third task granted in the same answer was the agent's third lease.
    const third = await call("GET", `/v1/jobs/${sub.body.jobIds[2]}`);
    expect(third.body.history[0].agentHeld).toBe(3);
    const after = await call("GET", `/v1/batches/${sub.body.batchId}/results?after=2`);
    expect(after.body.results.map((r: any) => r.value)).toEqual(["GOOD"]);
  });

  it("hands out higher priority first, FIFO within a priority", async () => {
    await submit({ fn: upper, inputs: ["low1", "low2"], queue: "prio", priority: -1 });
    await submit({ fn: upper, inputs: ["mid1", "mid2"], queue: "prio" });
    await submit({ fn: upper, inputs: ["high"], queue: "prio", priority: 5 });
    const got = await poll({ slots: 10, wait: 0, queue: "prio" });
    expect(tasksOf(got.body).map((t) => t.input)).toEqual(["high", "mid1", "mid2", "low1", "low2"]);
  });

  it("never gives an agent more tasks than the slots it asked for", async () => {
    await submit({ fn: upper, inputs: Array.from({ length: 10 }, (_, i) => i), queue: "slots" });
    const first = await poll({ slots: 2, wait: 0, queue: "slots" });
    expect(tasksOf(first.body)).toHaveLength(2);
  });

  it("sends a function once by hash: POST /v1/functions then jobs with fnHash", async () => {
    const fn = await call("POST", "/v1/functions", { body: { source: upper } });
    expect(fn.status).toBe(201);
    expect(fn.body.fnHash).toBe(await sha256Hex(upper));
    const sub = await submit({ fnHash: fn.body.fnHash, inputs: [1] });
    expect(sub.status).toBe(201);
    const source = await call("GET", `/v1/agent/functions/${fn.body.fnHash}`);
    expect(source.body).toEqual({ fnHash: fn.body.fnHash, source: upper });
    const unknown = await submit({ fnHash: "0".repeat(64), inputs: [1] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_function");
  });
});

describe("long-poll", () => {
  it("an idle poller receives a job submitted after its poll began, long before the wait ends", async () => {
    const started = Date.now();
    const pending = poll({ slots: 1, wait: 10, queue: "longpoll" }, "agent-lp");
    await new Promise((r) => setTimeout(r, 200));
    await submit({ fn: upper, input: "late", queue: "longpoll" });
    const res = await pending;
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(tasksOf(res.body)[0]!.input).toBe("late");
    expect(elapsed).toBeLessThan(2_000);
  });

  it("answers 204 after the wait when there is no work", async () => {
    const started = Date.now();
    const res = await poll({ slots: 1, wait: 0.3, queue: "empty" });
    expect(res.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("a results long-poll wakes when the next result is recorded", async () => {
    const sub = await submit({ fn: upper, input: "w", queue: "resultwait" });
    const pending = call("GET", `/v1/batches/${sub.body.batchId}/results?after=0&wait=10`);
    const got = await poll({ slots: 1, wait: 0, queue: "resultwait" });
    await report([{ leaseId: tasksOf(got.body)[0]!.leaseId, ok: true, value: "W" }]);
    const page = await pending;
    expect(page.body.results).toHaveLength(1);
    expect(page.body.done).toBe(true);
  });
});

describe("why is my job waiting?", () => {
  it("a queued job says how many are ahead of it and that no agent has polled", async () => {
    const sub = await submit({ fn: upper, inputs: ["a", "b", "c"], queue: "why" });
    const job = await call("GET", `/v1/jobs/${sub.body.jobIds[2]}`);
    expect(job.body.wait).toMatchObject({ ahead: 2, agentsSeen: 0, agentsWaiting: 0, freeSlots: 0, availableAt: null });
    expect(job.body.wait.message).toMatch(/2 jobs will be handed out before it\. No agent has polled this queue/);
  });

  it("names the agents waiting and their free slots, and the done job no longer explains", async () => {
    const pending = poll({ slots: 3, wait: 5, queue: "why-2" }, "why-agent");
    await new Promise((r) => setTimeout(r, 100));
    // A job that needs more than the waiting agent can take: 5 inputs, the agent took 3.
    const sub = await submit({ fn: upper, inputs: ["a", "b", "c", "d", "e"], queue: "why-2" });
    await pending;
    const late = await call("GET", `/v1/jobs/${sub.body.jobIds[4]}`);
    expect(late.body.wait).toMatchObject({ ahead: 1, agentsSeen: 1, agentsWaiting: 0 });
    expect(late.body.wait.message).toContain("1 agent has polled this queue in the last minute, but all are busy");
    const taken = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(taken.body.wait).toBeUndefined();
  });
});

describe("why is my job waiting? (backing off)", () => {
  it("a job backing off says until when, and counts the agents parked with free slots", async () => {
    const sub = await submit({ fn: upper, input: "z", queue: "why-backoff" });
    const t = tasksOf((await poll({ slots: 1, wait: 0, queue: "why-backoff" }, "why-b")).body)[0]!;
    await report([{ leaseId: t.leaseId, ok: false, error: { name: "Error", message: "flaky" } }], "why-b");
    const parked = poll({ slots: 4, wait: 0.4, queue: "why-backoff" }, "why-b");
    await new Promise((r) => setTimeout(r, 100));
    const job = await call("GET", `/v1/jobs/${sub.body.jobIds[0]}`);
    expect(job.body.wait).toMatchObject({ ahead: 0, agentsSeen: 1, agentsWaiting: 1, freeSlots: 4 });
    expect(job.body.wait.availableAt).toBeGreaterThan(Date.now());
    expect(job.body.wait.message).toMatch(/It is next in line\. It is backing off .* 1 agent is waiting for work with 4 free slots\./);
    await parked;
  });
});
