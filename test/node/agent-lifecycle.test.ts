// The agent's lifecycle against a real coordinator with real agent processes:
// confirming tasks on receipt, graceful and hurried shutdown, cancellation,
// vanished pollers, and reconnecting after the coordinator was down.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

let coord: Coordinator;
let api: ReturnType<typeof submitter>;
const started: AgentProc[] = [];
const coordinators: Coordinator[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function agent(c: Coordinator, opts: { name: string; queue: string; concurrency?: number; args?: string[] }): Promise<AgentProc> {
  const a = await startAgent({ url: c.url, token: c.agentToken, publicKey: c.publicKey, ...opts });
  started.push(a);
  return a;
}

/** Polls GET /v1/jobs/:id until `ok(job)` holds; returns the job. */
async function jobWhen(client: ReturnType<typeof submitter>, jobId: string, ok: (job: any) => boolean, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await client.call("GET", `/v1/jobs/${jobId}`)).body;
    if (ok(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${JSON.stringify(job)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function submit(client: ReturnType<typeof submitter>, body: Record<string, unknown>): Promise<{ batchId: string; jobId: string }> {
  const res = await client.call("POST", "/v1/jobs", body);
  expect(res.status).toBe(201);
  return { batchId: res.body.batchId, jobId: res.body.jobIds[0] };
}

/** Sleeps `ms` (first attempt only), then doubles its input. */
const slowOnFirstAttempt = (ms: number) =>
  `async (x, ctx) => { if (ctx.attempt === 1) await new Promise((r) => setTimeout(r, ${ms})); return x * 2; }`;

beforeAll(async () => {
  coord = await startCoordinator();
  coordinators.push(coord);
  api = submitter(coord.url, coord.submitToken);
});
afterAll(async () => {
  await Promise.all(started.map((a) => a.stop()));
  await Promise.allSettled(coordinators.map((c) => c.stop()));
});

describe("receipt", () => {
  it("an accepted task is confirmed at once, so a task longer than the delivery lease completes on its first attempt", async () => {
    const short = await startCoordinator({ vars: { DELIVERY_LEASE_MS: "1000" } });
    coordinators.push(short);
    const client = submitter(short.url, short.submitToken);
    // Regular heartbeats only every 60 s: only the confirmation on receipt can keep the lease.
    const a = await agent(short, { name: "confirm", queue: "confirm", args: ["--heartbeat-ms", "60000"] });
    const { batchId, jobId } = await submit(client, { fn: slowOnFirstAttempt(3000), input: 4, queue: "confirm", timeoutMs: 10_000 });
    const [result] = await client.collect(batchId, 15_000);
    expect(result).toMatchObject({ ok: true, value: 8, attempt: 1, agentId: a.agentId });
    const job = (await client.call("GET", `/v1/jobs/${jobId}`)).body;
    expect(job.history.map((h: any) => [h.agentId, h.outcome])).toEqual([[a.agentId, "ok"]]);
  });
});

describe("graceful shutdown", () => {
  it("on SIGTERM a running task finishes within the grace, its result is recorded, and the agent exits 0", async () => {
    const a = await agent(coord, { name: "finish", queue: "finish", args: ["--shutdown-grace-ms", "10000"] });
    const { batchId, jobId } = await submit(api, { fn: slowOnFirstAttempt(1500), input: 5, queue: "finish" });
    await jobWhen(api, jobId, (j) => j.state === "leased");
    const t0 = Date.now();
    a.kill("SIGTERM");
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const exitMs = Date.now() - t0;
    const [result] = await api.collect(batchId, 5_000);
    expect(result).toMatchObject({ ok: true, value: 10, attempt: 1, agentId: a.agentId });
    expect(a.count(/ waiting for running tasks count=1 /)).toBe(1);
    expect(a.count(/ stopped/)).toBe(1);
    console.log(`  SIGTERM during a 1.5 s task: exit 0 after ${exitMs} ms, result recorded`);
  });

  it("a task still running when the grace ends is released: the agent exits 0 at once and the job completes elsewhere without spending its only attempt", async () => {
    const a = await agent(coord, { name: "release", queue: "release", args: ["--shutdown-grace-ms", "1000"] });
    const { batchId, jobId } = await submit(api, { fn: slowOnFirstAttempt(20_000), input: 7, queue: "release", timeoutMs: 30_000, maxAttempts: 1 });
    await jobWhen(api, jobId, (j) => j.state === "leased");
    await sleep(200); // the task is under way in its sandbox
    const t0 = Date.now();
    a.kill("SIGTERM");
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const exitMs = Date.now() - t0;
    expect(exitMs).toBeLessThan(3_000);
    expect(a.count(/ released running tasks count=1 /)).toBe(1);

    const job = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
    expect(job).toMatchObject({ state: "queued", failures: 0, maxAttempts: 1 });
    expect(job.history.map((h: any) => [h.agentId, h.outcome])).toEqual([[a.agentId, "released"]]);

    const b = await agent(coord, { name: "second", queue: "release" });
    const [result] = await api.collect(batchId, 10_000);
    expect(result).toMatchObject({ ok: true, value: 14, attempt: 2, agentId: b.agentId });
    const done = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
    expect(done.history.map((h: any) => h.outcome)).toEqual(["released", "ok"]);
    console.log(`  SIGTERM with a 20 s task and a 1 s grace: exit 0 after ${exitMs} ms, job back in the queue, done by a second agent`);
  });

  it("an idle agent stopped mid long-poll exits at once and its abandoned poll takes no more work", async () => {
    const a = await agent(coord, { name: "idle", queue: "idle" });
    await sleep(1000); // parked in a long-poll at the coordinator
    const t0 = Date.now();
    a.kill("SIGTERM");
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const exitMs = Date.now() - t0;
    // Had the abandoned poll stayed parked, it would take this job and hold it for the 10 s delivery lease.
    const b = await agent(coord, { name: "after-idle", queue: "idle" });
    const t1 = Date.now();
    const { batchId, jobId } = await submit(api, { fn: "(x) => x + 1", input: 1, queue: "idle" });
    const [result] = await api.collect(batchId, 10_000);
    const latency = Date.now() - t1;
    expect(result).toMatchObject({ ok: true, value: 2, attempt: 1, agentId: b.agentId });
    expect((await api.call("GET", `/v1/jobs/${jobId}`)).body.history).toHaveLength(1);
    expect(latency).toBeLessThan(2_000);
    expect(a.count(/ released unconfirmed tasks count=0/)).toBe(1);
    console.log(`  idle agent: exit 0 after ${exitMs} ms; next job done by another agent in ${latency} ms`);
  });

  it("a second signal makes the agent exit at once with code 130", async () => {
    const a = await agent(coord, { name: "twice", queue: "twice" });
    const { jobId } = await submit(api, { fn: slowOnFirstAttempt(20_000), input: 1, queue: "twice", timeoutMs: 30_000 });
    await jobWhen(api, jobId, (j) => j.state === "leased");
    a.kill("SIGTERM");
    await a.waitForLine(/ waiting for running tasks /, 5_000);
    const t0 = Date.now();
    a.kill("SIGINT");
    expect(await a.exited).toEqual({ code: 130, signal: null });
    const exitMs = Date.now() - t0;
    expect(exitMs).toBeLessThan(1_000);
    expect(a.count(/ exiting at once /)).toBe(1);
    await api.call("DELETE", `/v1/jobs/${jobId}`);
  });
});

describe("vanished pollers", () => {
  it("a task handed to a long-poll whose agent was SIGKILLed is back in the queue within the delivery lease", async () => {
    const victim = await agent(coord, { name: "vanished", queue: "vanish" });
    await sleep(1000); // parked in a long-poll
    victim.kill("SIGKILL");
    await victim.exited;
    const t0 = Date.now();
    const { batchId, jobId } = await submit(api, { fn: "(x) => x * 3", input: 3, queue: "vanish" });
    const handed = await jobWhen(api, jobId, (j) => j.state === "leased", 5_000);
    expect(handed.agentId).toBe(victim.agentId); // the dead poll took it
    const requeued = await jobWhen(api, jobId, (j) => j.state === "queued", 15_000);
    const backMs = Date.now() - t0;
    expect(requeued.failures).toBe(0);
    const rescuer = await agent(coord, { name: "rescuer", queue: "vanish" });
    const [result] = await api.collect(batchId, 10_000);
    expect(result).toMatchObject({ ok: true, value: 9, agentId: rescuer.agentId });
    expect(backMs).toBeLessThan(12_000);
    console.log(`  task handed to a vanished poller back in the queue after ${backMs} ms (delivery lease 10 s)`);
  });
});

describe("cancellation", () => {
  it("cancelling running jobs aborts them within a heartbeat plus the kill grace, whether or not they listen to ctx.signal, and the agent carries on", async () => {
    const a = await agent(coord, { name: "cancel", queue: "cancel", concurrency: 2, args: ["--heartbeat-ms", "500"] });
    const listener = await submit(api, {
      fn: "(x, ctx) => { ctx.progress(0.5, 'listening'); return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))); }",
      input: null, queue: "cancel", timeoutMs: 30_000, maxAttempts: 1,
    });
    // Spins 300 ms after it starts, once its progress is on its way (a spinning child sends nothing).
    const spinner = await submit(api, {
      fn: "async (x, ctx) => { ctx.progress(0.5, 'spinning soon'); await new Promise((r) => setTimeout(r, 300)); while (true) {} }",
      input: null, queue: "cancel", timeoutMs: 30_000, maxAttempts: 1,
    });
    // Both are running in their sandboxes (a slow fork can keep one queued in the agent for a while,
    // and a queued task is cancelled at once), and the spinner has begun to spin.
    await jobWhen(api, listener.jobId, (j) => j.progress?.message === "listening");
    await jobWhen(api, spinner.jobId, (j) => j.progress?.message === "spinning soon");
    await sleep(400);

    const t0 = Date.now();
    const times: Record<string, number> = {};
    const doneLine = (jobId: string) => new RegExp(` task done jobId=${jobId} .*code=cancelled`);
    const ended = (jobId: string) => a.waitForLine(doneLine(jobId), 5_000).then(() => (times[jobId] = Date.now() - t0));
    const both = Promise.all([ended(listener.jobId), ended(spinner.jobId)]);
    expect((await api.call("DELETE", `/v1/jobs/${listener.jobId}`)).status).toBe(200);
    expect((await api.call("DELETE", `/v1/jobs/${spinner.jobId}`)).status).toBe(200);
    await both;
    const listenerMs = times[listener.jobId]!;
    const spinnerMs = times[spinner.jobId]!;
    expect(listenerMs).toBeLessThan(500 + 500 + 1_000);
    expect(spinnerMs).toBeLessThan(500 + 500 + 1_000);
    expect(spinnerMs).toBeGreaterThanOrEqual(500); // killed after the grace, not dropped from a queue
    // The listener was stopped by its signal, before the kill: in the agent's own order (times taken here
    // can tie when this process is slow to read the agent's output).
    expect(a.lines.findIndex((l) => doneLine(listener.jobId).test(l))).toBeLessThan(a.lines.findIndex((l) => doneLine(spinner.jobId).test(l)));

    await sleep(1000); // the agent has posted its (stale) results by now
    for (const { jobId } of [listener, spinner]) {
      const job = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
      expect(job.state).toBe("cancelled");
      expect(job.ok).not.toBe(true);
    }
    // Both slots still work, including the one whose sandbox was killed.
    const after = await api.call("POST", "/v1/jobs", { fn: "(x) => x + 100", inputs: [1, 2], queue: "cancel" });
    expect((await api.collect(after.body.batchId, 10_000)).map((r) => r.value).sort()).toEqual([101, 102]);
    console.log(`  cancel → abort: listener ${listenerMs} ms, busy loop (killed) ${spinnerMs} ms (heartbeat 500 ms, kill grace 500 ms)`);
  });
});

describe("reconnect", () => {
  it("a result finished while the coordinator was down is delivered once it is back, recorded once, with one log line per state change", async () => {
    const persistDir = mkdtempSync(join(tmpdir(), "dist-reconnect-"));
    try {
      let down = await startCoordinator({ persistDir });
      coordinators.push(down);
      const client = () => submitter(down.url, down.submitToken);
      const a = await agent(down, { name: "reconnect", queue: "reconnect", args: ["--heartbeat-ms", "500"] });
      const { batchId, jobId } = await submit(client(), { fn: slowOnFirstAttempt(2500), input: 21, queue: "reconnect", timeoutMs: 30_000 });
      await jobWhen(client(), jobId, (j) => j.state === "leased");
      await sleep(300);
      const secrets = { submitToken: down.submitToken, agentToken: down.agentToken, signingKey: down.signingKey, publicKey: down.publicKey };
      const port = down.port;
      await down.stop();
      await a.waitForLine(/ coordinator unreachable /, 5_000);
      await a.waitForLine(new RegExp(` task done jobId=${jobId} .*ok=true`), 10_000);
      await sleep(1000); // the result waits in the outbox while the coordinator is down
      const t0 = Date.now();
      down = await startCoordinator({ secrets, persistDir, port });
      coordinators.push(down);
      await a.waitForLine(/ reconnected/, 20_000);
      const results = await client().collect(batchId, 20_000);
      const deliveredMs = Date.now() - t0;
      expect(results).toHaveLength(1);
      expect(results[0]).toMatchObject({ ok: true, value: 42, attempt: 1, agentId: a.agentId });
      const job = (await client().call("GET", `/v1/jobs/${jobId}`)).body;
      expect(job.history.map((h: any) => h.outcome)).toEqual(["ok"]);
      await sleep(1000);
      expect(a.count(/ coordinator unreachable /)).toBe(1);
      expect(a.count(/ reconnected/)).toBe(1);
      // Still serving after the outage.
      const next = await submit(client(), { fn: "(x) => -x", input: 5, queue: "reconnect" });
      expect((await client().collect(next.batchId, 10_000))[0]).toMatchObject({ ok: true, value: -5 });
      console.log(`  coordinator restarted: result delivered ${deliveredMs} ms later`);
    } finally {
      rmSync(persistDir, { recursive: true, force: true });
    }
  });

  it("an agent stopped while the coordinator is unreachable still exits 0 within a few seconds", async () => {
    const gone = await startCoordinator();
    coordinators.push(gone);
    const a = await agent(gone, { name: "orphan", queue: "orphan" });
    await gone.stop();
    await a.waitForLine(/ coordinator unreachable /, 5_000);
    const t0 = Date.now();
    a.kill("SIGTERM");
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const exitMs = Date.now() - t0;
    expect(exitMs).toBeLessThan(3_000);
    expect(a.count(/ could not release unconfirmed tasks /)).toBe(1);
    console.log(`  stopped with the coordinator down: exit 0 after ${exitMs} ms`);
  });
});
