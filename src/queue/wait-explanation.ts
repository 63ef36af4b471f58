// "Why is my job waiting?": a queued job's place in line and the agents that
// could take it, in numbers and in words. Pure apart from one SQL count.

import type { WaitExplanation } from "../protocol/index.js";

export interface AgentSighting {
  lastPollAt: number;
  slots: number;
}

export const SEEN_WINDOW_MS = 60_000;

export function jobsAhead(sql: SqlStorage, jobId: string, now: number): { ahead: number; availableAt: number | null } | null {
  const job = sql
    .exec<{ priority: number; seq: number; available_at: number; state: string }>(
      "SELECT priority, seq, available_at, state FROM jobs WHERE id = ?",
      jobId,
    )
    .toArray()[0];
  if (!job || job.state !== "queued") return null;
  const { n } = sql
    .exec<{ n: number }>(
      `SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued' AND available_at <= ?
         AND (priority > ? OR (priority = ? AND seq < ?))`,
      now,
      job.priority,
      job.priority,
      job.seq,
    )
    .one();
  return { ahead: n, availableAt: job.available_at > now ? job.available_at : null };
}

export function explainWait(
  place: { ahead: number; availableAt: number | null },
  sightings: Map<string, AgentSighting>,
  waiting: { agents: number; freeSlots: number },
  now: number,
): WaitExplanation {
  let agentsSeen = 0;
  for (const s of sightings.values()) if (now - s.lastPollAt <= SEEN_WINDOW_MS) agentsSeen++;
  const parts: string[] = [];
  parts.push(place.ahead === 0 ? "It is next in line." : `${place.ahead} job${place.ahead === 1 ? "" : "s"} will be handed out before it.`);
  if (place.availableAt !== null) {
    parts.push(`It is backing off after a failed attempt until ${new Date(place.availableAt).toISOString()}.`);
  }
  if (agentsSeen === 0) {
    parts.push("No agent has polled this queue in the last minute: start one with `npx dist-agent` (see GET /v1/keys for the key to pin).");
  } else if (waiting.agents === 0) {
    parts.push(`${agentsSeen} agent${agentsSeen === 1 ? " has" : "s have"} polled this queue in the last minute, but all are busy.`);
  } else {
    parts.push(`${waiting.agents} agent${waiting.agents === 1 ? " is" : "s are"} waiting for work with ${waiting.freeSlots} free slot${waiting.freeSlots === 1 ? "" : "s"}.`);
  }
  return { ...place, agentsSeen, agentsWaiting: waiting.agents, freeSlots: waiting.freeSlots, message: parts.join(" ") };
}
