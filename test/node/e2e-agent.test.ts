// One agent against a real coordinator: long-poll latency, leases after a
// SIGKILL, and the sandbox as a submitted task meets it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

let coord: Coordinator;
let api: ReturnType<typeof submitter>;
const started: AgentProc[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function agent(opts: { name: string; concurrency?: number; queue?: string }): Promise<AgentProc> {
  const a = await startAgent({ url: coord.url, token: coord.agentToken, publicKey: coord.publicKey, ...opts });
  started.push(a);
  return a;
}

beforeAll(async () => {
  coord = await startCoordinator();
  api = submitter(coord.url, coord.submitToken);
});
afterAll(async () => {
  await Promise.all(started.map((a) => a.stop()));
  await coord?.stop();
});

describe("long-poll", () => {
  it("an idle agent gets a job submitted after its poll began within a small fraction of the 25 s wait", async () => {
    await agent({ name: "idle", concurrency: 1, queue: "lp" });
    await sleep(1500); // the agent is now parked in a long-poll
    const t0 = Date.now();
    const sub = await api.call("POST", "/v1/jobs", { fn: "(x) => x + 1", input: 41, queue: "lp" });
    const [result] = await api.collect(sub.body.batchId, 10_000);
    const latency = Date.now() - t0;
    expect(result.value).toBe(42);
    console.log(`  submit → result on an idle agent: ${latency} ms (poll wait 25 s)`);
    expect(latency).toBeLessThan(2_500); // < 10% of the wait
  });
});

describe("leases", () => {
  it("a task whose agent was SIGKILLed returns to the queue when its lease expires and another agent completes it", async () => {
    const victim = await agent({ name: "victim", concurrency: 1, queue: "kill" });
    const sub = await api.call("POST", "/v1/jobs", {
      fn: "async (x) => { await new Promise(r => setTimeout(r, 1500)); return x * 2; }",
      input: 21,
      queue: "kill",
      timeoutMs: 3000,
      graceMs: 1000,
    });
    const jobId = sub.body.jobIds[0];
    // Wait until the victim holds the lease, then kill it outright.
    for (let i = 0; i < 100; i++) {
      if ((await api.call("GET", `/v1/jobs/${jobId}`)).body.state === "leased") break;
      await sleep(50);
    }
    victim.kill("SIGKILL");
    await victim.exited;
    const killedAt = Date.now();
    const rescuer = await agent({ name: "rescuer", concurrency: 1, queue: "kill" });
    const [result] = await api.collect(sub.body.batchId, 20_000);
    expect(result).toMatchObject({ ok: true, value: 42, agentId: rescuer.agentId, attempt: 2 });
    const job = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
    expect(job.history.map((h: any) => [h.agentId, h.outcome])).toEqual([
      [victim.agentId, "expired"],
      [rescuer.agentId, "ok"],
    ]);
    console.log(`  killed agent's task completed by another ${Date.now() - killedAt} ms after the kill (lease 4 s)`);
  });
});

describe("sandbox", () => {
  it("a runaway while(true){} is stopped at its time limit while the agent keeps serving other tasks", async () => {
    await agent({ name: "sandbox", concurrency: 2, queue: "sandbox" });
    const loop = await api.call("POST", "/v1/jobs", { fn: "() => { while (true) {} }", input: null, queue: "sandbox", timeoutMs: 1000, maxAttempts: 1 });
    await sleep(200);
    const t0 = Date.now();
    const quick = await api.call("POST", "/v1/jobs", { fn: "(x) => x.map((n) => n + 1)", inputs: [[1], [2], [3]], queue: "sandbox" });
    const quickResults = await api.collect(quick.body.batchId, 10_000);
    expect(quickResults.map((r) => r.ok)).toEqual([true, true, true]);
    const quickMs = Date.now() - t0;
    const [runaway] = await api.collect(loop.body.batchId, 10_000);
    expect(runaway.ok).toBe(false);
    expect(runaway.error.code).toBe("timeout");
    // Served while the loop spins in the other slot: done before the loop was stopped, by the coordinator's clock
    // (not a wall-clock bound here, which a busy machine's slow fork of the second sandbox could miss).
    for (const r of quickResults) expect(r.finishedAt).toBeLessThan(runaway.finishedAt);
    console.log(`  quick tasks done ${quickMs} ms after submission, while the loop ran to its 1 s limit`);
    // Both slots still work after the kill.
    const after = await api.call("POST", "/v1/jobs", { fn: "(x) => x * 3", inputs: [1, 2], queue: "sandbox" });
    expect((await api.collect(after.body.batchId, 10_000)).map((r) => r.value).sort()).toEqual([3, 6]);
  });

  it("a task cannot reach the agent's token: no process, no modules, no file reads, no network", async () => {
    await agent({ name: "secret", concurrency: 1, queue: "secret" });
    const probe = `async () => {
      const out = { globals: [typeof process, typeof require, typeof Buffer], tries: {} };
      for (const m of ["node:process", "node:fs", "node:child_process"]) {
        try { await import(m); out.tries[m] = "imported"; } catch (e) { out.tries[m] = "denied: " + e.code; }
      }
      for (const p of ["file:///proc/self/environ", "file://" + "/proc/1/cmdline", "${coord.url}/v1/keys"]) {
        try { await fetch(p); out.tries[p] = "fetched"; } catch (e) { out.tries[p] = "denied: " + e.code; }
      }
      return out;
    }`;
    const sub = await api.call("POST", "/v1/jobs", { fn: probe, input: null, queue: "secret", maxAttempts: 1 });
    const [result] = await api.collect(sub.body.batchId, 10_000);
    expect(result.ok).toBe(true);
    expect(JSON.stringify(result.value)).not.toContain(coord.agentToken);
    expect(result.value.globals).toEqual(["undefined", "undefined", "undefined"]);
    for (const [what, outcome] of Object.entries(result.value.tries)) expect(outcome, what).toMatch(/^denied: /);
  });
});
