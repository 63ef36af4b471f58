// A real work queue: a long list fed to agents only as they have free slots.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

const JOBS = 1000;
const SLOTS = 2;
let coord: Coordinator;
const agents: AgentProc[] = [];
beforeAll(async () => {
  coord = await startCoordinator();
  for (let i = 0; i < 3; i++) {
    agents.push(await startAgent({ url: coord.url, token: coord.agentToken, publicKey: coord.publicKey, concurrency: SLOTS, name: `q${i}`, args: ["--prefetch", "0"] }));
  }
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await coord?.stop();
});

it(`${JOBS} jobs over 3 agents with ${SLOTS} slots each: each done exactly once, no agent over its slots`, async () => {
  const api = submitter(coord.url, coord.submitToken);
  const inputs = Array.from({ length: JOBS }, (_, i) => i);
  const started = Date.now();
  const sub = await api.call("POST", "/v1/jobs", { fn: "async (n) => { if (n % 50 === 0) await new Promise(r => setTimeout(r, 20)); return n * n; }", inputs });
  expect(sub.status).toBe(201);
  const results = await api.collect(sub.body.batchId, 120_000);
  const wall = Date.now() - started;

  expect(results).toHaveLength(JOBS);
  expect(new Set(results.map((r) => r.jobId)).size).toBe(JOBS);
  for (const r of results) {
    expect(r.ok).toBe(true);
    expect(r.value).toBe(r.index * r.index);
  }
  const batch = (await api.call("GET", `/v1/batches/${sub.body.batchId}`)).body;
  expect(batch).toMatchObject({ total: JOBS, done: true, counts: { done: JOBS, failed: 0, queued: 0, leased: 0 } });

  // From the coordinator's own records: one attempt per job, and at every
  // grant the agent held no more leases than its slots.
  let maxHeld = 0;
  const perAgent = new Map<string, number>();
  for (const id of sub.body.jobIds as string[]) {
    const job = (await api.call("GET", `/v1/jobs/${id}`)).body;
    expect(job.attempts).toBe(1);
    expect(job.history).toHaveLength(1);
    maxHeld = Math.max(maxHeld, ...job.history.map((h: any) => h.agentHeld));
    perAgent.set(job.agentId, (perAgent.get(job.agentId) ?? 0) + 1);
  }
  expect(maxHeld).toBeLessThanOrEqual(SLOTS);
  expect(maxHeld).toBe(SLOTS); // the slots were actually used
  expect([...perAgent.keys()].sort()).toEqual(agents.map((a) => a.agentId).sort());
  console.log(`  ${JOBS} jobs in ${wall} ms; per agent: ${[...perAgent.values()].join(" / ")}; max held ${maxHeld}`);
});
