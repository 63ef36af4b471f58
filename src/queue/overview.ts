// The dashboard's view of one queue: counts, agents, throughput, recent results;
// and the counts /v1/metrics gives.

import { JOB_STATES, type JobState, type QueueOverview } from "../protocol/index.js";
import { LAST_AGENT_OF_JOB } from "./attempt-rows.js";
import { SEEN_WINDOW_MS, type AgentSighting } from "./wait-explanation.js";

const MINUTE = 60_000;
const THROUGHPUT_MINUTES = 10;

export function queueOverview(sql: SqlStorage, queue: string, sightings: Map<string, AgentSighting>, now: number): QueueOverview {
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  for (const row of sql.exec<{ state: JobState; n: number }>("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")) counts[row.state] = row.n;

  const running = new Map<string, number>();
  for (const row of sql.exec<{ agent: string; n: number }>("SELECT lease_agent AS agent, COUNT(*) AS n FROM jobs WHERE state = 'leased' GROUP BY lease_agent")) {
    running.set(row.agent, row.n);
  }
  const ids = new Set([...running.keys(), ...[...sightings].filter(([, s]) => now - s.lastPollAt <= SEEN_WINDOW_MS).map(([id]) => id)]);
  const agents = [...ids].sort().map((agentId) => ({
    agentId,
    lastPollAt: sightings.get(agentId)?.lastPollAt ?? null,
    slots: sightings.get(agentId)?.slots ?? 0,
    running: running.get(agentId) ?? 0,
  }));

  const start = Math.floor(now / MINUTE) * MINUTE - (THROUGHPUT_MINUTES - 1) * MINUTE;
  const throughput: Array<[number, number, number]> = Array.from({ length: THROUGHPUT_MINUTES }, (_, i) => [start + i * MINUTE, 0, 0]);
  for (const row of sql.exec<{ minute: number; state: string; n: number }>(
    `SELECT (finished_at - ?) / ${MINUTE} AS minute, state, COUNT(*) AS n FROM jobs
     WHERE finished_at >= ? GROUP BY minute, state`,
    start,
    start,
  )) {
    const slot = throughput[Math.floor(row.minute)];
    if (!slot) continue;
    if (row.state === "done") slot[1] += row.n;
    else if (row.state === "failed") slot[2] += row.n;
  }

  const recent = sql
    .exec<{ id: string; ok: number; finished_at: number; result: string; agent: string | null }>(
      `SELECT j.id, j.ok, j.finished_at, j.result,
              ${LAST_AGENT_OF_JOB} AS agent
       FROM jobs j WHERE j.finished_at IS NOT NULL ORDER BY j.finished_at DESC LIMIT 20`,
    )
    .toArray()
    .map((r) => ({
      jobId: r.id,
      ok: r.ok === 1,
      agentId: r.agent,
      finishedAt: r.finished_at,
      ...(r.ok === 1 ? {} : { error: String((JSON.parse(r.result) as { message?: string }).message ?? "failed").slice(0, 200) }),
    }));
  const runningJobs = sql
    .exec<{ id: string; agent: string; progress: number | null; progress_message: string | null }>(
      `SELECT id, lease_agent AS agent, progress, progress_message FROM jobs WHERE state = 'leased'
       ORDER BY progress_at DESC NULLS LAST, started_at LIMIT 20`,
    )
    .toArray()
    .map((r) => ({ jobId: r.id, agentId: r.agent, fraction: r.progress, ...(r.progress_message ? { message: r.progress_message } : {}) }));
  return { queue, now, counts, agents, throughput, running: runningJobs, recent };
}

/** Jobs by state and the running totals (counters), for /v1/metrics. */
export function jobCounts(sql: SqlStorage): { byState: Record<string, number>; totals: Record<string, number> } {
  const byState: Record<string, number> = {};
  for (const row of sql.exec<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")) byState[row.state] = row.n;
  const totals: Record<string, number> = {};
  for (const row of sql.exec<{ name: string; value: number }>("SELECT name, value FROM counters")) totals[row.name] = row.value;
  return { byState, totals };
}
