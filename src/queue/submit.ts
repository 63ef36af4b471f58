// Submitting a batch: one transaction writes the batch row and the jobs, all
// of them in one statement fed a JSON list (see json-rows.ts), which keeps
// far below the 100-parameter cap however large the batch.

import { jobIdOf, JOB_DEFAULTS, type SubmitResponse } from "../protocol/index.js";
import { inJsonChunks } from "./json-rows.js";

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

/** One job row: id, index in the batch, input (JSON text), the submitter's signature. */
type NewJob = [id: string, index: number, input: string, sig: string | null];

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
  // Each input goes as a JSON string, so json_each gives back its text as it came.
  const rows = batch.inputs.map((input, index): NewJob => [jobIds[index]!, index, input, batch.signatures?.[index] ?? null]);
  const shared = [batch.batchId, batch.fnHash, priority, firstSeq, timeoutMs, graceMs, maxAttempts, now, now, batch.signer ?? null] as const;
  inJsonChunks(
    rows,
    (json) =>
      sql.exec(
        `INSERT INTO jobs (id, batch_id, idx, fn_hash, input, state, priority, seq, timeout_ms, grace_ms,
                           max_attempts, available_at, created_at, signer, sig)
         SELECT j.value->>0, ?1, j.value->>1, ?2, j.value->>2, 'queued', ?3, ?4 + (j.value->>1), ?5, ?6, ?7, ?8, ?9, ?10, j.value->>3
         FROM json_each(?11) AS j`,
        ...shared,
        json,
      ),
    ([id, index, input, sig]) =>
      sql.exec(
        `INSERT INTO jobs (id, batch_id, idx, fn_hash, input, state, priority, seq, timeout_ms, grace_ms,
                           max_attempts, available_at, created_at, signer, sig)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7 + ?3, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`,
        id,
        batch.batchId,
        index,
        batch.fnHash,
        input,
        ...shared.slice(2),
        sig,
      ),
  );
  return { batchId: batch.batchId, jobIds, fnHash: batch.fnHash };
}
