// The 2010 demo, for real: one function, three inputs, three agent processes,
// results watched arriving in the order the machines finish.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

// "whiten": key-stretch a string by hashing it over and over. The wait before
// it makes the three run times differ, so completion order ≠ submission order.
const whiten = `async (s) => {
  const delay = { good: 1200, news: 600, everyone: 0 }[s] ?? 0;
  await new Promise((r) => setTimeout(r, delay));
  let h = s;
  for (let i = 0; i < 2000; i++) {
    const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(h));
    h = Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return h.slice(0, 32);
}`;

let coord: Coordinator;
const agents: AgentProc[] = [];
beforeAll(async () => {
  coord = await startCoordinator();
  for (const name of ["alpha", "beta", "gamma"]) {
    agents.push(await startAgent({ url: coord.url, token: coord.agentToken, publicKey: coord.publicKey, concurrency: 1, name }));
  }
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await coord?.stop();
});

it("good / news / everyone run on three agents and come back in completion order, each equal to the local result", async () => {
  const api = submitter(coord.url, coord.submitToken);
  const fn = await api.call("POST", "/v1/functions", { source: whiten });
  expect(fn.status).toBe(201);
  // Let all three agents settle into their long-polls before the work appears.
  await new Promise((r) => setTimeout(r, 300));
  const inputs = ["good", "news", "everyone"];
  const sub = await api.call("POST", "/v1/jobs", { fnHash: fn.body.fnHash, inputs });
  expect(sub.status).toBe(201);
  const results = await api.collect(sub.body.batchId, 30_000);

  const local = (0, eval)(`(${whiten})`) as (s: string) => Promise<string>;
  for (const r of results) {
    expect(r.ok).toBe(true);
    expect(r.value).toBe(await local(inputs[r.index]!));
  }
  const completionOrder = results.map((r) => inputs[r.index]);
  expect(completionOrder).toEqual(["everyone", "news", "good"]);
  expect(completionOrder).not.toEqual(inputs);
  // Three separate agent processes did the work.
  expect(new Set(results.map((r) => r.agentId))).toEqual(new Set(agents.map((a) => a.agentId)));
  for (const r of results) console.log(`  ${inputs[r.index]!.padEnd(9)} ${r.value}  (${r.agentId})`);
});
