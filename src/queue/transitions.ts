// Job state transitions, one function each, as plain functions over the
// object's SQLite. The lease id is the fencing token: only the current lease
// of a leased job can move it on, so a slow or partitioned agent can never
// overwrite a newer attempt's result.

import { newLeaseId, type Task, type TaskError, type TaskResult } from "../protocol/index.js";
import { extendedExpiry, leaseExpiry, retryDelayMs } from "./lease.js";

type LeasedRow = {
  id: string;
  batch_id: string;
  state: string;
  attempts: number;
  max_attempts: number;
  grace_ms: number;
  lease_expires: number;
};

/** Gives up to `slots` ready jobs to `agentId`, best priority first, FIFO within a priority. */
export function claim(sql: SqlStorage, queue: string, agentId: string, slots: number, now: number): Task[] {
  const rows = sql
    .exec<{ id: string; fn_hash: string; input: string; timeout_ms: number; grace_ms: number; attempts: number }>(
      `SELECT id, fn_hash, input, timeout_ms, grace_ms, attempts FROM jobs
       WHERE state = 'queued' AND available_at <= ? ORDER BY priority DESC, seq LIMIT ?`,
      now,
      slots,
    )
    .toArray();
  if (rows.length === 0) return [];
  let held = sql
    .exec<{ n: number }>("SELECT COUNT(*) AS n FROM jobs WHERE state = 'leased' AND lease_agent = ?", agentId)
    .one().n;
  return rows.map((row) => {
    const leaseId = newLeaseId(queue);
    const attempt = row.attempts + 1;
    held += 1;
    sql.exec(
      `UPDATE jobs SET state = 'leased', attempts = ?, lease_id = ?, lease_agent = ?, lease_expires = ?,
              started_at = COALESCE(started_at, ?) WHERE id = ?`,
      attempt,
      leaseId,
      agentId,
      leaseExpiry(now, row.timeout_ms, row.grace_ms),
      now,
      row.id,
    );
    sql.exec(
      `INSERT INTO attempts (job_id, attempt, lease_id, agent_id, leased_at, outcome, agent_held)
       VALUES (?, ?, ?, ?, ?, 'running', ?)`,
      row.id,
      attempt,
      leaseId,
      agentId,
      now,
      held,
    );
    return {
      jobId: row.id,
      leaseId,
      attempt,
      queue,
      fnHash: row.fn_hash,
      input: JSON.parse(row.input) as unknown,
      timeoutMs: row.timeout_ms,
    };
  });
}

/** Moves a job to a final state and gives it the next place in its batch's completion order. */
function finish(sql: SqlStorage, job: { id: string; batch_id: string }, state: string, ok: boolean, result: string, now: number): void {
  const { finished } = sql
    .exec<{ finished: number }>("UPDATE batches SET finished = finished + 1 WHERE id = ? RETURNING finished", job.batch_id)
    .one();
  sql.exec(
    `UPDATE jobs SET state = ?, ok = ?, result = ?, finished_at = ?, done_seq = ?, lease_expires = NULL WHERE id = ?`,
    state,
    ok ? 1 : 0,
    result,
    now,
    finished,
    job.id,
  );
}

function endAttempt(sql: SqlStorage, jobId: string, attempt: number, outcome: string, now: number, error?: TaskError, rejected?: string): void {
  sql.exec(
    "UPDATE attempts SET ended_at = ?, outcome = ?, error = ?, rejected = ? WHERE job_id = ? AND attempt = ?",
    now,
    outcome,
    error ? JSON.stringify(error) : null,
    rejected ?? null,
    jobId,
    attempt,
  );
}

/** After a failed attempt: back to the queue with backoff, or `failed` when no attempts are left. */
function retryOrFail(sql: SqlStorage, job: LeasedRow, error: TaskError, now: number): "requeued" | "failed" {
  if (job.attempts < job.max_attempts) {
    sql.exec(
      `UPDATE jobs SET state = 'queued', lease_id = NULL, lease_agent = NULL, lease_expires = NULL, available_at = ?
       WHERE id = ?`,
      now + retryDelayMs(job.attempts),
      job.id,
    );
    return "requeued";
  }
  finish(sql, job, "failed", false, JSON.stringify(error), now);
  return "failed";
}

function currentLease(sql: SqlStorage, leaseId: string): LeasedRow | undefined {
  return sql
    .exec<LeasedRow>(
      `SELECT id, batch_id, state, attempts, max_attempts, grace_ms, lease_expires FROM jobs WHERE lease_id = ?`,
      leaseId,
    )
    .toArray()[0];
}

export type Recorded =
  | { status: "stale" }
  | { status: "accepted"; batchId: string; outcome: "done" | "requeued" | "failed" };

/** Records one result. Anything but the current, unexpired lease of a leased job is stale. */
export function recordResult(sql: SqlStorage, result: TaskResult, now: number, maxResultBytes: number): Recorded {
  const job = currentLease(sql, result.leaseId);
  if (!job || job.state !== "leased" || job.lease_expires <= now) return { status: "stale" };
  if (result.rejected) {
    const error = { name: "Rejected", code: result.rejected, message: `agent refused the task: ${result.rejected}` };
    endAttempt(sql, job.id, job.attempts, "rejected", now, undefined, result.rejected);
    return { status: "accepted", batchId: job.batch_id, outcome: retryOrFail(sql, job, error, now) };
  }
  if (result.ok) {
    const text = JSON.stringify(result.value ?? null);
    if (text.length > maxResultBytes) {
      const error = { name: "ResultTooLarge", code: "result_too_large", message: `result is larger than ${maxResultBytes} bytes` };
      endAttempt(sql, job.id, job.attempts, "error", now, error);
      return { status: "accepted", batchId: job.batch_id, outcome: retryOrFail(sql, job, error, now) };
    }
    endAttempt(sql, job.id, job.attempts, "ok", now);
    finish(sql, job, "done", true, text, now);
    return { status: "accepted", batchId: job.batch_id, outcome: "done" };
  }
  const error = result.error ?? { name: "Error", message: "the task failed without an error" };
  endAttempt(sql, job.id, job.attempts, "error", now, error);
  return { status: "accepted", batchId: job.batch_id, outcome: retryOrFail(sql, job, error, now) };
}

/** Extends the leases an agent still runs; tells it which were cancelled or are no longer its own. */
export function heartbeat(sql: SqlStorage, leaseIds: string[], now: number): { active: string[]; cancelled: string[]; stale: string[] } {
  const out = { active: [] as string[], cancelled: [] as string[], stale: [] as string[] };
  for (const leaseId of leaseIds) {
    const job = currentLease(sql, leaseId);
    if (job?.state === "leased" && job.lease_expires > now) {
      sql.exec("UPDATE jobs SET lease_expires = ? WHERE id = ?", extendedExpiry(job.lease_expires, now, job.grace_ms), job.id);
      out.active.push(leaseId);
    } else if (job?.state === "cancelled") {
      out.cancelled.push(leaseId);
    } else {
      out.stale.push(leaseId);
    }
  }
  return out;
}

/** Re-queues (or fails) every job whose lease has run out. Returns the batches that changed. */
export function expireLeases(sql: SqlStorage, now: number): { requeued: number; batches: Set<string> } {
  const rows = sql
    .exec<LeasedRow>(
      `SELECT id, batch_id, state, attempts, max_attempts, grace_ms, lease_expires FROM jobs
       WHERE state = 'leased' AND lease_expires <= ?`,
      now,
    )
    .toArray();
  const batches = new Set<string>();
  let requeued = 0;
  for (const job of rows) {
    const error = { name: "LeaseExpired", code: "lease_expired", message: "the agent did not report within its lease" };
    endAttempt(sql, job.id, job.attempts, "expired", now, error);
    // An expired lease goes straight back: the agent vanished, the task itself did not fail.
    if (job.attempts < job.max_attempts) {
      sql.exec(
        `UPDATE jobs SET state = 'queued', lease_id = NULL, lease_agent = NULL, lease_expires = NULL, available_at = ?
         WHERE id = ?`,
        now,
        job.id,
      );
      requeued += 1;
    } else {
      finish(sql, job, "failed", false, JSON.stringify(error), now);
      batches.add(job.batch_id);
    }
  }
  return { requeued, batches };
}

/** Cancels the unfinished jobs among `where` (a job id or a whole batch). Returns how many. */
export function cancel(sql: SqlStorage, where: { jobId: string } | { batchId: string }, now: number): number {
  const rows = sql
    .exec<{ id: string; batch_id: string; state: string; attempts: number }>(
      "jobId" in where
        ? "SELECT id, batch_id, state, attempts FROM jobs WHERE id = ? AND state IN ('queued', 'leased')"
        : "SELECT id, batch_id, state, attempts FROM jobs WHERE batch_id = ? AND state IN ('queued', 'leased')",
      "jobId" in where ? where.jobId : where.batchId,
    )
    .toArray();
  const error = { name: "Cancelled", code: "cancelled", message: "the job was cancelled" };
  for (const job of rows) {
    if (job.state === "leased") endAttempt(sql, job.id, job.attempts, "cancelled", now, error);
    // The lease id stays on the row so the running agent's next heartbeat learns of the cancel.
    finish(sql, job, "cancelled", false, JSON.stringify(error), now);
  }
  return rows.length;
}

/** When the object must next wake: the earliest lease expiry or delayed retry. */
export function nextWakeAt(sql: SqlStorage, now: number): number | null {
  const row = sql
    .exec<{ lease: number | null; retry: number | null }>(
      `SELECT (SELECT MIN(lease_expires) FROM jobs WHERE state = 'leased') AS lease,
              (SELECT MIN(available_at) FROM jobs WHERE state = 'queued' AND available_at > ?) AS retry`,
      now,
    )
    .one();
  const times = [row.lease, row.retry].filter((t): t is number => t !== null);
  return times.length ? Math.min(...times) : null;
}
