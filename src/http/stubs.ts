// Finding the Durable Object behind a queue name or a self-routing id.

import { parseBatchId, parseJobId, type ParsedJobId } from "../protocol/index.js";
import type { Env } from "../env.js";
import type { QueueObject } from "../queue/queue-object.js";
import { ApiError } from "./errors.js";

export function queueStub(env: Env, queue: string): DurableObjectStub<QueueObject> {
  return env.QUEUE.get(env.QUEUE.idFromName(queue));
}

export function jobRef(id: string): ParsedJobId {
  const parsed = parseJobId(id);
  if (!parsed) throw new ApiError(404, "not_found", `no job ${id}`);
  return parsed;
}

export function batchRef(id: string): { queue: string } {
  const parsed = parseBatchId(id);
  if (!parsed) throw new ApiError(404, "not_found", `no batch ${id}`);
  return parsed;
}
