// The agent's hot path over POST /v1/agent/exchange (the default; --no-exchange
// polls instead), its prefetch (--prefetch n, or auto by default), and
// ctx.progress() reaching GET /v1/jobs/:id, all against a real coordinator and
// real agent processes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";
import { startProxy, type Proxy } from "../helpers/proxy.js";

let coord: Coordinator;
let api: ReturnType<typeof submitter>;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  coord = await startCoordinator();
  api = submitter(coord.url, coord.submitToken);
});
afterAll(async () => {
  for (const stop of cleanup.reverse()) await stop();
  await coord?.stop();
});

/** An agent behind a proxy that counts requests by route. */
async function agentCounting(queue: string, concurrency: number, args: string[]): Promise<{ agent: AgentProc; routes: Map<string, number> }> {
  const routes = new Map<string, number>();
  const proxy: Proxy = await startProxy(coord.url, {
    requestHeaders: (path, headers) => {
      const route = path.split("?")[0]!.replace(/\/functions\/.*/, "/functions");
      routes.set(route, (routes.get(route) ?? 0) + 1);
      return headers;
    },
  });
  const agent = await startAgent({ url: proxy.url, token: coord.agentToken, publicKey: coord.publicKey, concurrency, queue, name: queue, args });
  cleanup.push(() => proxy.close(), () => agent.stop());
  return { agent, routes };
}

/** Runs `n` quick jobs on `queue`; checks each ran exactly once and returns the most leases the agent held at a grant. */
async function runQuickJobs(queue: string, n: number): Promise<number> {
  const sub = await api.call("POST", "/v1/jobs", { fn: "async (n) => { if (n % 10 === 0) await new Promise((r) => setTimeout(r, 5)); return n * 3; }", inputs: Array.from({ length: n }, (_, i) => i), queue });
  expect(sub.status).toBe(201);
  const results = await api.collect(sub.body.batchId, 60_000);
  expect(results).toHaveLength(n);
  for (const r of results) expect(r).toMatchObject({ ok: true, value: r.index * 3 });
  let maxHeld = 0;
  for (const id of sub.body.jobIds as string[]) {
    const job = (await api.call("GET", `/v1/jobs/${id}`)).body;
    expect(job.attempts).toBe(1);
    expect(job.history).toHaveLength(1);
    maxHeld = Math.max(maxHeld, job.history[0].agentHeld);
  }
  return maxHeld;
}

describe("exchange", () => {
  it("results, confirmations and polls share POST /v1/agent/exchange; each job runs once and with --prefetch 0 the agent holds no more leases than its slots", async () => {
    const { routes } = await agentCounting("xchg", 2, ["--prefetch", "0"]);
    const maxHeld = await runQuickJobs("xchg", 200);
    expect(maxHeld).toBeLessThanOrEqual(2);
    expect(routes.get("/v1/agent/poll") ?? 0).toBe(0);
    const exchanges = routes.get("/v1/agent/exchange") ?? 0;
    const alone = (routes.get("/v1/agent/results") ?? 0) + (routes.get("/v1/agent/heartbeat") ?? 0);
    expect(exchanges).toBeGreaterThan(0);
    // Most results ride on an exchange rather than a request of their own.
    expect(alone).toBeLessThan(exchanges);
  });

  it("--prefetch lets the agent hold tasks beyond its slots, each still run once", async () => {
    await agentCounting("prefetch", 1, ["--prefetch", "3"]);
    const maxHeld = await runQuickJobs("prefetch", 100);
    expect(maxHeld).toBeLessThanOrEqual(4);
    expect(maxHeld).toBeGreaterThan(1);
  });

  it("the default prefetch (auto) grows with a queue of quick jobs, so requests carry many jobs, each run once", async () => {
    const { routes } = await agentCounting("prefetch-auto", 2, []);
    const n = 2000;
    const maxHeld = await runQuickJobs("prefetch-auto", n);
    expect(maxHeld).toBeGreaterThan(2);
    expect(maxHeld).toBeLessThanOrEqual(256);
    const requests = [...routes].filter(([route]) => route.startsWith("/v1/agent/") && route !== "/v1/agent/enroll").reduce((sum, [, count]) => sum + count, 0);
    // With --prefetch 0 and 2 slots an exchange carries at most 2 results and 2 tasks.
    expect(n / requests).toBeGreaterThan(5);
  });
});

describe("ctx.progress", () => {
  for (const mode of ["poll", "exchange"] as const) {
    it(`a running task's latest progress shows in GET /v1/jobs/:id (${mode})`, async () => {
      const queue = `progress-${mode}`;
      await agentCounting(queue, 1, ["--heartbeat-ms", "300", ...(mode === "poll" ? ["--no-exchange"] : [])]);
      const fn = `async (x, ctx) => {
        ctx.progress(0.1, "start");
        ctx.progress(7, { toString() { return "not a string"; } }); // clamped to 1, message dropped; then replaced below
        ctx.progress(0.5, "half");
        await new Promise((r) => setTimeout(r, 1500));
        return x;
      }`;
      const sub = await api.call("POST", "/v1/jobs", { fn, input: 1, queue });
      expect(sub.status).toBe(201);
      const jobId = sub.body.jobIds[0];
      let seen: unknown;
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const job = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
        if (job.progress) {
          seen = job.progress;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen).toMatchObject({ fraction: 0.5, message: "half" });
      const [result] = await api.collect(sub.body.batchId, 10_000);
      expect(result).toMatchObject({ ok: true, value: 1 });
    });
  }

  it("a message longer than 200 characters is cut, and a non-number fraction is ignored", async () => {
    const queue = "progress-limits";
    await agentCounting(queue, 1, ["--heartbeat-ms", "300"]);
    const fn = `async (x, ctx) => {
      ctx.progress(0.25, "m".repeat(500));
      ctx.progress("0.9", "ignored");
      await new Promise((r) => setTimeout(r, 1500));
      return x;
    }`;
    const sub = await api.call("POST", "/v1/jobs", { fn, input: 2, queue });
    const jobId = sub.body.jobIds[0];
    let seen: any;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !seen) {
      seen = (await api.call("GET", `/v1/jobs/${jobId}`)).body.progress;
      if (!seen) await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).toMatchObject({ fraction: 0.25, message: "m".repeat(200) });
    await api.collect(sub.body.batchId, 10_000);
  });
});
