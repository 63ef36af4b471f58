// Identifiers route themselves: every batch, job and lease id starts with its
// queue name, so the Worker can find the queue's Durable Object from the id
// alone. Random parts are base64url, which never contains '.'.
//
//   batch  <queue>.<time><random>    default.0mfx2k3l9Xk3...
//   job    <batchId>.<index>         default.0mfx2k3l9Xk3....17
//   lease  <queue>.<time><random>    default.0mfx2k3lc9fQ...
//
// Batch and lease ids start with the time they were drawn (ms, base 36, fixed
// width, so ids sort in the order they were drawn) and end with 96 random
// bits. The queue's indices keyed by them (jobs by id, leases, a batch's
// completion order, the attempt history) then grow at their ends: with wholly
// random ids each claim of n jobs wrote n scattered pages of the lease index
// (bench: workerd ~73 -> ~60 µs/job), and each small batch a scattered page
// of each index keyed by job id.

import { randomId } from "./encoding.js";

export const QUEUE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const DEFAULT_QUEUE = "default";

const BATCH_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}\.[A-Za-z0-9_-]{8,32}$/;
const JOB_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}\.[A-Za-z0-9_-]{8,32}\.(0|[1-9][0-9]{0,6})$/;
const LEASE_ID_RE = BATCH_ID_RE;
export const FN_HASH_RE = /^[0-9a-f]{64}$/;

/** `<time><random>`: sorts by when it was drawn, then unguessable (96 random bits). */
const timeOrderedId = (): string => `${Date.now().toString(36).padStart(9, "0")}${randomId(12)}`;

export const newBatchId = (queue: string): string => `${queue}.${timeOrderedId()}`;
export const newLeaseId = (queue: string): string => `${queue}.${timeOrderedId()}`;
export const jobIdOf = (batchId: string, index: number): string => `${batchId}.${index}`;

export interface ParsedJobId {
  queue: string;
  batchId: string;
  index: number;
}

export function parseBatchId(id: string): { queue: string } | null {
  return BATCH_ID_RE.test(id) ? { queue: id.slice(0, id.indexOf(".")) } : null;
}

export function parseJobId(id: string): ParsedJobId | null {
  if (!JOB_ID_RE.test(id)) return null;
  const last = id.lastIndexOf(".");
  return { queue: id.slice(0, id.indexOf(".")), batchId: id.slice(0, last), index: Number(id.slice(last + 1)) };
}

export function queueOfLeaseId(id: string): string | null {
  return LEASE_ID_RE.test(id) ? id.slice(0, id.indexOf(".")) : null;
}
