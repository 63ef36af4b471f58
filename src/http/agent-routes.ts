// Routes for agents (AGENT_TOKEN + X-Agent-Id): poll, function source,
// heartbeat, results. Heartbeats and results name leases, and lease ids name
// their queue, so one request may touch several queue objects.

import { Hono } from "hono";
import {
  DEFAULT_QUEUE,
  FN_HASH_RE,
  HeartbeatBody,
  PollBody,
  queueOfLeaseId,
  ReleaseBody,
  ResultsBody,
  type HeartbeatResponse,
  type ResultsResponse,
} from "../protocol/index.js";
import type { Env } from "../env.js";
import { functionRegistry } from "../queue/function-registry.js";
import { requireRole } from "./auth.js";
import { ApiError } from "./errors.js";
import { queueStub } from "./stubs.js";
import { jsonBody } from "./validate.js";

type AgentEnv = { Bindings: Env; Variables: { agentId: string } };

export const agentRoutes = new Hono<AgentEnv>();
agentRoutes.use(requireRole("agent"));
agentRoutes.use(async function agentIdMiddleware(c, next) {
  const agentId = c.req.header("x-agent-id");
  if (!agentId || !/^[A-Za-z0-9._:-]{1,128}$/.test(agentId)) {
    throw new ApiError(400, "missing_agent_id", "send X-Agent-Id: <id> (1-128 of A-Z a-z 0-9 . _ : -)");
  }
  c.set("agentId", agentId);
  await next();
});

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

agentRoutes.post("/poll", async (c) => {
  const body = await jsonBody(c, PollBody);
  const queue = body.queue ?? DEFAULT_QUEUE;
  const envelope = await queueStub(c.env, queue).poll(queue, c.get("agentId"), body.slots, body.wait * 1000, body.session);
  return envelope ? c.json(envelope) : c.body(null, 204);
});

agentRoutes.get("/functions/:fnHash", async (c) => {
  const fnHash = c.req.param("fnHash");
  if (!FN_HASH_RE.test(fnHash)) throw new ApiError(404, "not_found", `no function ${fnHash}`);
  const source = await functionRegistry(c.env).get(fnHash);
  if (source === null) throw new ApiError(404, "not_found", `no function ${fnHash}`);
  return c.json({ fnHash, source });
});

agentRoutes.post("/heartbeat", async (c) => {
  const { leaseIds } = await jsonBody(c, HeartbeatBody);
  const { groups, unroutable } = byQueue(leaseIds, (id) => id);
  const answer: HeartbeatResponse = { active: [], cancelled: [], stale: [...unroutable] };
  for (const [queue, ids] of groups) {
    const part = await queueStub(c.env, queue).heartbeat(ids);
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
    const part = await queueStub(c.env, queue).reportResults(items);
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
