// Submitting a batch: one transaction writes the batch row and the jobs, in
// statements fed a JSON list (see json-rows.ts), which keeps far below the
// 100-parameter cap however large the batch.

import { jobIdOf, JOB_DEFAULTS, type SubmitResponse } from "../protocol/index.js";
import type { NewJob, SharedColumns } from "./job-insert.js";
import { stageJobs } from "./staged.js";

export interface NewBatch {
  batchId: string;
  fnHash: string;
  /** Each input as JSON text. */
  inputs: string[];
  timeoutMs?: number;
  graceMs?: number;
  maxAttempts?: number;
  priority?: number;
  idempotencyKey?: string;
  /** sha256 of the request body, to tell a retry from a different request under the same key. */
  bodyDigest?: string;
  /** End-to-end signing: the submitter's public key and one signature per input (already verified). */
  signer?: string;
  signatures?: string[];
}

export type IdempotentMatch = { kind: "same"; response: SubmitResponse } | { kind: "conflict" } | null;

export function findIdempotent(sql: SqlStorage, key: string, digest: string): IdempotentMatch {
  const row = sql
    .exec<{ id: string; fn_hash: string; total: number; idem_digest: string }>(
      "SELECT id, fn_hash, total, idem_digest FROM batches WHERE idem_key = ?",
      key,
    )
    .toArray()[0];
  if (!row) return null;
  if (row.idem_digest !== digest) return { kind: "conflict" };
  const jobIds = Array.from({ length: row.total }, (_, i) => jobIdOf(row.id, i));
  return { kind: "same", response: { batchId: row.id, jobIds, fnHash: row.fn_hash } };
}

/** Reserves `count` consecutive numbers from a named counter and returns the first. */
export function reserveSeq(sql: SqlStorage, name: string, count: number): number {
  const row = sql
    .exec<{ value: number }>(
      `INSERT INTO counters (name, value) VALUES (?, ?)
       ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value`,
      name,
      count,
    )
    .one();
  return row.value - count + 1;
}

/**
 * Writes a batch: its row, its first STAGE_ROWS jobs, and the rest staged
 * (staged.ts) — all in the caller's transaction, so the batch is there whole
 * or not at all, while the jobs rows of a large batch are written a chunk
 * at a time by the claims that need them.
 */
export function insertBatch(sql: SqlStorage, batch: NewBatch, now: number): SubmitResponse {
  const timeoutMs = batch.timeoutMs ?? JOB_DEFAULTS.timeoutMs;
  const graceMs = batch.graceMs ?? JOB_DEFAULTS.graceMs;
  const maxAttempts = batch.maxAttempts ?? JOB_DEFAULTS.maxAttempts;
  const priority = batch.priority ?? JOB_DEFAULTS.priority;
  sql.exec(
    "INSERT INTO batches (id, fn_hash, total, created_at, idem_key, idem_digest) VALUES (?, ?, ?, ?, ?, ?)",
    batch.batchId,
    batch.fnHash,
    batch.inputs.length,
    now,
    batch.idempotencyKey ?? null,
    batch.bodyDigest ?? null,
  );
  const firstSeq = reserveSeq(sql, "job_seq", batch.inputs.length);
  const jobIds = batch.inputs.map((_, index) => jobIdOf(batch.batchId, index));
  const rows = batch.inputs.map((input, index): NewJob => [jobIds[index]!, index, input, batch.signatures?.[index] ?? null]);
  const shared: SharedColumns = [batch.batchId, batch.fnHash, priority, firstSeq, timeoutMs, graceMs, maxAttempts, now, now, batch.signer ?? null];
  stageJobs(sql, shared, rows);
  return { batchId: batch.batchId, jobIds, fnHash: batch.fnHash };
}
