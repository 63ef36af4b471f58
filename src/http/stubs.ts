// Finding the Durable Object behind a queue name or a self-routing id.

import { parseBatchId, parseJobId, type ParsedJobId } from "../protocol/index.js";
import type { Env } from "../env.js";
import type { QueueObject } from "../queue/queue-object.js";
import type { ParkRequest, PollAnswer } from "../queue/queue-types.js";
import { ApiError } from "./errors.js";

export function queueStub(env: Env, queue: string): DurableObjectStub<QueueObject> {
  return env.QUEUE.get(env.QUEUE.idFromName(queue));
}

/**
 * A poll for tasks. One that may wait is sent over fetch() (QueueObject.fetch
 * claims at once or parks): a parked fetch costs workerd less memory than a
 * parked RPC call, and idle agents spend their time parked. `first` is the
 * answer of an RPC poll that did not wait (an exchange's): if it found work
 * it stands, else the poll parks.
 */
export async function pollQueue(env: Env, request: ParkRequest, first?: PollAnswer): Promise<PollAnswer> {
  const stub = queueStub(env, request.queue);
  if (first && first.kind !== "empty") return first;
  if (request.waitMs <= 0) return first ?? ((await stub.poll(request.queue, request.agentId, request.slots, 0, request.session)) as PollAnswer);
  const parked = await stub.fetch("https://queue.internal/park", { method: "POST", body: JSON.stringify(request) });
  return (await parked.json()) as PollAnswer;
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
