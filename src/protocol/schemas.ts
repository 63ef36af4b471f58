// Request schemas, validated once at the coordinator's edge. Both sides import
// the inferred types, so the agent and the coordinator cannot drift.

import { z } from "zod";
import { FN_HASH_RE, QUEUE_NAME_RE } from "./ids.js";
import { REJECTION_CODES } from "./codes.js";
import { LIMITS } from "./limits.js";

const queueName = z.string().regex(QUEUE_NAME_RE, "queue must match ^[a-z0-9][a-z0-9_-]{0,62}$");
const fnHash = z.string().regex(FN_HASH_RE, "fnHash must be 64 lower-case hex characters");
const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be base64url");
/** An Ed25519 public key as its base64url `x` (32 bytes). */
const publicX = base64url.length(43, "an Ed25519 public key is 43 base64url characters");
/** An Ed25519 signature, base64url (64 bytes). */
const signature = base64url.length(86, "an Ed25519 signature is 86 base64url characters");
const source = z
  .string()
  .min(1, "source must not be empty")
  .max(LIMITS.maxSourceBytes, `source is larger than ${LIMITS.maxSourceBytes} bytes`);

export const SubmitJobsBody = z
  .object({
    fn: source.optional(),
    fnHash: fnHash.optional(),
    input: z.unknown().optional(),
    inputs: z.array(z.unknown()).min(1).max(LIMITS.maxBatchSize).optional(),
    queue: queueName.optional(),
    timeoutMs: z.number().int().min(10).max(24 * 3600_000).optional(),
    graceMs: z.number().int().min(0).max(3600_000).optional(),
    maxAttempts: z.number().int().min(1).max(100).optional(),
    priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    /** End-to-end signing: the submitter's public key ... */
    signer: publicX.optional(),
    /** ... and one signature per input (see submitter-signature.ts), in input order. */
    signatures: z.array(signature).min(1).max(LIMITS.maxBatchSize).optional(),
  })
  .strict()
  .refine((b) => (b.fn === undefined) !== (b.fnHash === undefined), {
    message: "give exactly one of fn (the source) or fnHash (from POST /v1/functions)",
  })
  .refine((b) => b.input === undefined || b.inputs === undefined, {
    message: "give input or inputs, not both",
  })
  .refine((b) => (b.signer === undefined) === (b.signatures === undefined), {
    message: "signer and signatures go together",
  })
  .refine((b) => b.signatures === undefined || b.signatures.length === (b.inputs?.length ?? 1), {
    message: "give one signature per input",
  });
export type SubmitJobsBody = z.infer<typeof SubmitJobsBody>;

export const CreateFunctionBody = z.object({ source }).strict();
export type CreateFunctionBody = z.infer<typeof CreateFunctionBody>;

export const PollBody = z
  .object({
    slots: z.number().int().min(1).max(LIMITS.maxSlots),
    wait: z.number().min(0).max(LIMITS.maxWaitSeconds).default(LIMITS.maxWaitSeconds),
    labels: z.array(z.string().max(64)).max(32).optional(),
    queue: queueName.optional(),
    /** A nonce the agent makes at each start; the envelope echoes it, so envelopes from before a restart are refused. */
    session: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, "session must be 16-64 base64url characters").optional(),
  })
  .strict();
export type PollBody = z.infer<typeof PollBody>;

const leaseId = z.string().min(1).max(128);

export const EnrollBody = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,48}$/, "name must be 1-48 of A-Z a-z 0-9 _ -").optional(),
    labels: z.array(z.string().max(64)).max(32).optional(),
  })
  .strict();
export type EnrollBody = z.infer<typeof EnrollBody>;

export const TaskProgress = z
  .object({
    leaseId,
    fraction: z.number().min(0).max(1),
    message: z.string().max(200).optional(),
  })
  .strict();
export type TaskProgress = z.infer<typeof TaskProgress>;

export const HeartbeatBody = z
  .object({
    leaseIds: z.array(leaseId).max(LIMITS.maxItemsPerRequest),
    /** What running tasks reported through ctx.progress since the last heartbeat. */
    progress: z.array(TaskProgress).max(LIMITS.maxItemsPerRequest).optional(),
  })
  .strict();
export type HeartbeatBody = z.infer<typeof HeartbeatBody>;

export const ReleaseBody = z
  .object({
    queue: queueName.optional(),
    leaseIds: z.array(leaseId).max(LIMITS.maxItemsPerRequest).default([]),
    unconfirmed: z.boolean().optional(),
  })
  .strict();
export type ReleaseBody = z.infer<typeof ReleaseBody>;

export const JobsQuery = z.object({
  state: z.enum(["queued", "leased", "done", "failed", "cancelled"]).optional(),
  after: z.coerce.number().int().min(-1).default(-1),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxResultsPage).default(100),
});
export type JobsQuery = z.infer<typeof JobsQuery>;

export const TaskError = z
  .object({
    name: z.string().max(256),
    message: z.string().max(8192),
    stack: z.string().max(16384).optional(),
    code: z.string().max(64).optional(),
  })
  .strict();
export type TaskError = z.infer<typeof TaskError>;


export const TaskResult = z
  .object({
    leaseId,
    ok: z.boolean(),
    value: z.unknown().optional(),
    error: TaskError.optional(),
    rejected: z.enum(REJECTION_CODES).optional(),
  })
  .strict();
export type TaskResult = z.infer<typeof TaskResult>;

export const ResultsBody = z
  .object({ results: z.array(TaskResult).min(1).max(LIMITS.maxItemsPerRequest) })
  .strict();
export type ResultsBody = z.infer<typeof ResultsBody>;

/**
 * One request for an agent's whole cycle: report results, confirm and extend
 * leases (with progress), then long-poll for the next tasks — recorded in that
 * order by the queue object, so results are safe before the wait begins.
 * `slots` may be 0 to report without asking for work.
 */
export const ExchangeBody = z
  .object({
    queue: queueName.optional(),
    session: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, "session must be 16-64 base64url characters").optional(),
    slots: z.number().int().min(0).max(LIMITS.maxSlots),
    wait: z.number().min(0).max(LIMITS.maxWaitSeconds).default(0),
    results: z.array(TaskResult).max(LIMITS.maxItemsPerRequest).optional(),
    leaseIds: z.array(leaseId).max(LIMITS.maxItemsPerRequest).optional(),
    progress: z.array(TaskProgress).max(LIMITS.maxItemsPerRequest).optional(),
  })
  .strict();
export type ExchangeBody = z.infer<typeof ExchangeBody>;

export const ResultsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  wait: z.coerce.number().min(0).max(LIMITS.maxWaitSeconds).default(0),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxResultsPage).default(LIMITS.maxResultsPage),
});
export type ResultsQuery = z.infer<typeof ResultsQuery>;
