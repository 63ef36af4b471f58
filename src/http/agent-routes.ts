// Routes for agents. Enrollment takes the shared AGENT_TOKEN; everything else
// takes the agent's own credential plus X-Agent-Id. Heartbeats and results
// name leases, and lease ids name their queue, so one request may touch
// several queue objects.

import { Hono } from "hono";
import {
  DEFAULT_QUEUE,
  EnrollBody,
  ExchangeBody,
  FN_HASH_RE,
  HeartbeatBody,
  PollBody,
  queueOfLeaseId,
  ReleaseBody,
  ResultsBody,
  type EnrollResponse,
  type ExchangeResponse,
  type HeartbeatResponse,
  type ResultsResponse,
} from "../protocol/index.js";
import type { Env } from "../env.js";
import { agentRegistry } from "../queue/agent-registry.js";
import { functionRegistry } from "../queue/function-registry.js";
import { requireAgent, requireRole } from "./auth.js";
import { ApiError } from "./errors.js";
import type { PollAnswer } from "../queue/queue-types.js";
import { pollQueue, queueStub } from "./stubs.js";
import { jsonBody } from "./validate.js";

type AgentEnv = { Bindings: Env; Variables: { agentId: string } };

export const agentRoutes = new Hono<AgentEnv>();

agentRoutes.post("/enroll", requireRole("agent"), async (c) => {
  const body = await jsonBody(c, EnrollBody);
  const enrolled: EnrollResponse = await agentRegistry(c.env).enroll(body.name ?? "agent", body.labels ?? []);
  return c.json(enrolled, 201);
});

agentRoutes.use(requireAgent());

/** Splits items by the queue their lease id names; unroutable lease ids are returned apart. */
function byQueue<T>(items: T[], leaseOf: (item: T) => string): { groups: Map<string, T[]>; unroutable: string[] } {
  const groups = new Map<string, T[]>();
  const unroutable: string[] = [];
  for (const item of items) {
    const queue = queueOfLeaseId(leaseOf(item));
    if (!queue) unroutable.push(leaseOf(item));
    else groups.set(queue, [...(groups.get(queue) ?? []), item]);
  }
  return { groups, unroutable };
}

// Queues each agent was seen polling, per isolate, so the registry hears of each pair once.
const notedQueues = new Set<string>();

async function noteQueue(env: Env, agentId: string, queue: string): Promise<void> {
  if (notedQueues.has(`${agentId}\n${queue}`)) return;
  await agentRegistry(env).noteQueue(agentId, queue);
  if (notedQueues.size > 100_000) notedQueues.clear();
  notedQueues.add(`${agentId}\n${queue}`);
}

function rateLimited(c: { header: (name: string, value: string) => void }, retryAfterMs: number): never {
  c.header("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  throw new ApiError(429, "rate_limited", "this agent polls too often; wait for Retry-After");
}

agentRoutes.post("/poll", async (c) => {
  const body = await jsonBody(c, PollBody);
  const queue = body.queue ?? DEFAULT_QUEUE;
  const agentId = c.get("agentId");
  await noteQueue(c.env, agentId, queue);
  const answer = await pollQueue(c.env, { queue, agentId, slots: body.slots, waitMs: body.wait * 1000, session: body.session });
  if (answer.kind === "rate_limited") rateLimited(c, answer.retryAfterMs);
  return answer.kind === "tasks" ? c.json(answer.envelope) : c.body(null, 204);
});

/**
 * The hot path in one request: results, confirms/heartbeats with progress,
 * and the next tasks. Results and leases of other queues than `queue` are
 * answered stale (an agent serves one queue).
 */
agentRoutes.post("/exchange", async (c) => {
  const body = await jsonBody(c, ExchangeBody);
  const queue = body.queue ?? DEFAULT_QUEUE;
  const agentId = c.get("agentId");
  if (body.slots > 0) await noteQueue(c.env, agentId, queue);
  const here = (leaseId: string) => queueOfLeaseId(leaseId) === queue;
  const results = body.results ?? [];
  const leaseIds = body.leaseIds ?? [];
  const progress = body.progress ?? [];
  const poll = { queue, agentId, slots: body.slots, waitMs: body.wait * 1000, session: body.session };
  let answer: { poll: PollAnswer; results: ResultsResponse; heartbeat: HeartbeatResponse };
  if (results.length + leaseIds.length + progress.length === 0) {
    // Only a poll (an idle agent's): straight to pollQueue, which may park.
    answer = { poll: await pollQueue(c.env, poll), results: { accepted: [], stale: [] }, heartbeat: { active: [], cancelled: [], stale: [] } };
  } else {
    answer = (await queueStub(c.env, queue).exchange(queue, agentId, {
      results: results.filter((r) => here(r.leaseId)),
      leaseIds: leaseIds.filter(here),
      progress: progress.filter((p) => here(p.leaseId)),
      slots: body.slots,
      waitMs: 0,
      session: body.session,
    })) as typeof answer;
    if (body.slots > 0) answer.poll = await pollQueue(c.env, poll, answer.poll);
  }
  if (answer.poll.kind === "rate_limited") rateLimited(c, answer.poll.retryAfterMs);
  const reply: ExchangeResponse = {
    envelope: answer.poll.kind === "tasks" ? answer.poll.envelope : null,
    results: { accepted: answer.results.accepted, stale: [...answer.results.stale, ...results.filter((r) => !here(r.leaseId)).map((r) => r.leaseId)] },
    heartbeat: { ...answer.heartbeat, stale: [...answer.heartbeat.stale, ...leaseIds.filter((id) => !here(id))] },
  };
  return c.json(reply);
});

agentRoutes.get("/functions/:fnHash", async (c) => {
  const fnHash = c.req.param("fnHash");
  if (!FN_HASH_RE.test(fnHash)) throw new ApiError(404, "not_found", `no function ${fnHash}`);
  const source = await functionRegistry(c.env).get(fnHash);
  if (source === null) throw new ApiError(404, "not_found", `no function ${fnHash}`);
  return c.json({ fnHash, source });
});

agentRoutes.post("/heartbeat", async (c) => {
  const { leaseIds, progress = [] } = await jsonBody(c, HeartbeatBody);
  const { groups, unroutable } = byQueue(leaseIds, (id) => id);
  const byLeaseQueue = byQueue(progress, (p) => p.leaseId).groups;
  for (const queue of byLeaseQueue.keys()) if (!groups.has(queue)) groups.set(queue, []);
  const answer: HeartbeatResponse = { active: [], cancelled: [], stale: [...unroutable] };
  for (const [queue, ids] of groups) {
    const part = await queueStub(c.env, queue).heartbeat(c.get("agentId"), ids, byLeaseQueue.get(queue) ?? []);
    answer.active.push(...part.active);
    answer.cancelled.push(...part.cancelled);
    answer.stale.push(...part.stale);
  }
  return c.json(answer);
});

agentRoutes.post("/results", async (c) => {
  const { results } = await jsonBody(c, ResultsBody);
  const { groups, unroutable } = byQueue(results, (r) => r.leaseId);
  const answer: ResultsResponse = { accepted: [], stale: [...unroutable] };
  for (const [queue, items] of groups) {
    const part = await queueStub(c.env, queue).reportResults(c.get("agentId"), items);
    answer.accepted.push(...part.accepted);
    answer.stale.push(...part.stale);
  }
  return c.json(answer);
});

/** Gives leases back without spending attempts; `unconfirmed` also ends this agent's parked polls. */
agentRoutes.post("/release", async (c) => {
  const body = await jsonBody(c, ReleaseBody);
  const queue = body.queue ?? DEFAULT_QUEUE;
  const mine = body.leaseIds.filter((id) => queueOfLeaseId(id) === queue);
  const others = body.leaseIds.filter((id) => queueOfLeaseId(id) !== queue);
  const answer = await queueStub(c.env, queue).release(c.get("agentId"), mine, body.unconfirmed ?? false);
  return c.json({ released: answer.released, stale: [...answer.stale, ...others] });
});
