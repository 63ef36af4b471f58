// GET /v1/metrics: Prometheus text exposition. Covers the queues agents have
// polled plus any named in ?queue= (repeatable), and always `default`.

import { Hono } from "hono";
import { DEFAULT_QUEUE, JOB_STATES, QUEUE_NAME_RE } from "../protocol/index.js";
import type { Env } from "../env.js";
import { agentRegistry } from "../queue/agent-registry.js";
import type { QueueStats } from "../queue/queue-types.js";
import { queueStub } from "./stubs.js";

/** Mounted inside submitRoutes, behind its submit-token check. */
export const metricsRoutes = new Hono<{ Bindings: Env }>();

/** An agent counts as online if it was seen within this window. */
const ONLINE_WINDOW_MS = 60_000;

const COUNTERS: Array<[name: string, total: string, help: string]> = [
  ["dist_jobs_completed_total", "jobs_done", "Jobs finished with a recorded result."],
  ["dist_jobs_failed_total", "jobs_failed", "Jobs that used up their attempts."],
  ["dist_jobs_cancelled_total", "jobs_cancelled", "Jobs cancelled before finishing."],
  ["dist_retries_total", "retries", "Failed attempts put back in the queue with backoff."],
  ["dist_leases_expired_total", "leases_expired", "Started tasks whose agent went silent past the lease."],
];

export function renderMetrics(stats: Map<string, QueueStats>, agentsOnline: number): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  family("dist_jobs", "gauge", "Jobs by queue and state.");
  for (const [queue, s] of stats) for (const state of JOB_STATES) lines.push(`dist_jobs{queue="${queue}",state="${state}"} ${s.byState[state] ?? 0}`);
  family("dist_leases", "gauge", "Tasks currently leased to agents.");
  for (const [queue, s] of stats) lines.push(`dist_leases{queue="${queue}"} ${s.byState.leased ?? 0}`);
  family("dist_pollers_waiting", "gauge", "Agent long-polls parked in the queue object.");
  for (const [queue, s] of stats) lines.push(`dist_pollers_waiting{queue="${queue}"} ${s.pollersWaiting}`);
  for (const [name, total, help] of COUNTERS) {
    family(name, "counter", help);
    for (const [queue, s] of stats) lines.push(`${name}{queue="${queue}"} ${s.totals[total] ?? 0}`);
  }
  family("dist_agents_online", "gauge", `Enrolled, unrevoked agents seen in the last ${ONLINE_WINDOW_MS / 1000} s.`);
  lines.push(`dist_agents_online ${agentsOnline}`);
  return lines.join("\n") + "\n";
}

metricsRoutes.get("/metrics", async (c) => {
  const registry = agentRegistry(c.env);
  const asked = c.req.queries("queue") ?? [];
  const queues = [...new Set([DEFAULT_QUEUE, ...asked, ...(await registry.knownQueues())])].filter((q) => QUEUE_NAME_RE.test(q)).slice(0, 200);
  const stats = new Map<string, QueueStats>();
  for (const queue of queues.sort()) stats.set(queue, (await queueStub(c.env, queue).stats()) as QueueStats);
  c.header("content-type", "text/plain; version=0.0.4; charset=utf-8");
  return c.body(renderMetrics(stats, await registry.onlineCount(ONLINE_WINDOW_MS)));
});
