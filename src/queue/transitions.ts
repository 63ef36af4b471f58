// Job state transitions, one function each, as plain functions over the
// object's SQLite. The lease id is the fencing token: only the current lease
// of a leased job can move it on, so a slow or partitioned agent can never
// overwrite a newer attempt's result.
//
// A lease starts as a short *delivery* lease; the agent's first heartbeat
// naming it confirms the task arrived and turns it into the full lease (time
// limit + grace). A task handed to a long-poll whose client has gone away —
// which the platform does not report — thus comes back within the delivery
// window instead of the job's whole time limit.

import { newLeaseId, type Task, type TaskError, type TaskProgress, type TaskResult } from "../protocol/index.js";
import { extendedExpiry, leaseExpiry, retryDelayMs } from "./lease.js";

export type LeasedRow = {
  id: string;
  batch_id: string;
  state: string;
  attempts: number;
  failures: number;
  max_attempts: number;
  timeout_ms: number;
  grace_ms: number;
  lease_expires: number;
  lease_agent: string;
  confirmed: number;
};
const LEASED_COLUMNS = "id, batch_id, state, attempts, failures, max_attempts, timeout_ms, grace_ms, lease_expires, lease_agent, confirmed";

/** Gives up to `slots` ready jobs to `agentId`, best priority first, FIFO within a priority. */
export function claim(sql: SqlStorage, queue: string, agentId: string, slots: number, now: number, deliveryMs: number): Task[] {
  const rows = sql
    .exec<{ id: string; fn_hash: string; input: string; timeout_ms: number; grace_ms: number; attempts: number; signer: string | null; sig: string | null }>(
      `SELECT id, fn_hash, input, timeout_ms, grace_ms, attempts, signer, sig FROM jobs
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
      `UPDATE jobs SET state = 'leased', attempts = ?, lease_id = ?, lease_agent = ?, lease_expires = ?, confirmed = 0,
              started_at = COALESCE(started_at, ?) WHERE id = ?`,
      attempt,
      leaseId,
      agentId,
      Math.min(now + deliveryMs, leaseExpiry(now, row.timeout_ms, row.grace_ms)),
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
      ...(row.signer && row.sig ? { signer: row.signer, sig: row.sig } : {}),
    };
  });
}

/** Adds to one of the queue's running totals (the `counters` table), for metrics. */
export function count(sql: SqlStorage, name: string, by = 1): void {
  sql.exec("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", name, by);
}

/** Moves a job to a final state and gives it the next place in its batch's completion order. */
export function finish(sql: SqlStorage, job: { id: string; batch_id: string }, state: string, ok: boolean, result: string, now: number): void {
  const { last_seq } = sql
    .exec<{ last_seq: number }>(
      "UPDATE batches SET finished = finished + 1, last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
      job.batch_id,
    )
    .one();
  sql.exec(
    `UPDATE jobs SET state = ?, ok = ?, result = ?, finished_at = ?, done_seq = ?, lease_expires = NULL WHERE id = ?`,
    state,
    ok ? 1 : 0,
    result,
    now,
    last_seq,
    job.id,
  );
  count(sql, `jobs_${state}`);
}

export function endAttempt(sql: SqlStorage, jobId: string, attempt: number, outcome: string, now: number, error?: TaskError, rejected?: string): void {
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

/** Back to the queue, runnable from `availableAt`, with the lease cleared. */
function requeue(sql: SqlStorage, jobId: string, failures: number, availableAt: number): void {
  sql.exec(
    `UPDATE jobs SET state = 'queued', failures = ?, lease_id = NULL, lease_agent = NULL, lease_expires = NULL,
            confirmed = 0, available_at = ?, progress = NULL, progress_message = NULL, progress_at = NULL WHERE id = ?`,
    failures,
    availableAt,
    jobId,
  );
}

/** After an attempt that spent the budget: back with backoff, or `failed` when none is left. */
function retryOrFail(sql: SqlStorage, job: LeasedRow, error: TaskError, now: number): "requeued" | "failed" {
  const failures = job.failures + 1;
  if (failures < job.max_attempts) {
    requeue(sql, job.id, failures, now + retryDelayMs(failures));
    count(sql, "retries");
    return "requeued";
  }
  sql.exec("UPDATE jobs SET failures = ? WHERE id = ?", failures, job.id);
  finish(sql, job, "failed", false, JSON.stringify(error), now);
  return "failed";
}

export function currentLease(sql: SqlStorage, leaseId: string): LeasedRow | undefined {
  return sql.exec<LeasedRow>(`SELECT ${LEASED_COLUMNS} FROM jobs WHERE lease_id = ?`, leaseId).toArray()[0];
}

function isLive(job: LeasedRow | undefined, now: number): boolean {
  return job !== undefined && job.state === "leased" && job.lease_expires > now;
}

export type Recorded =
  | { status: "stale" }
  | { status: "accepted"; batchId: string; outcome: "done" | "requeued" | "failed" };

/**
 * Records one result. Anything but the current, unexpired lease of a leased
 * job, reported by the agent holding it, is stale — with one exception: an
 * agent that was handed another agent's envelope (a misrouted or replayed
 * answer) may refuse it while the lease is unconfirmed; that sends the task
 * straight back without spending an attempt.
 */
export function recordResult(sql: SqlStorage, result: TaskResult, now: number, maxResultBytes: number, agentId: string): Recorded {
  const job = currentLease(sql, result.leaseId);
  if (!job || !isLive(job, now)) return { status: "stale" };
  if (job.lease_agent !== agentId) {
    if (!result.rejected || job.confirmed) return { status: "stale" };
    endAttempt(sql, job.id, job.attempts, "rejected", now, undefined, result.rejected);
    requeue(sql, job.id, job.failures, now);
    return { status: "accepted", batchId: job.batch_id, outcome: "requeued" };
  }
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

/**
 * Confirms and extends the leases an agent holds; tells it which were
 * cancelled or are no longer its own. The first heartbeat for a lease turns
 * the delivery lease into the full one.
 */
export function heartbeat(
  sql: SqlStorage,
  agentId: string,
  leaseIds: string[],
  now: number,
  progress: TaskProgress[] = [],
): { active: string[]; cancelled: string[]; stale: string[]; progressed: Set<string> } {
  const out = { active: [] as string[], cancelled: [] as string[], stale: [] as string[], progressed: new Set<string>() };
  for (const p of progress) {
    const job = currentLease(sql, p.leaseId);
    if (!job || !isLive(job, now) || job.lease_agent !== agentId) continue;
    sql.exec("UPDATE jobs SET progress = ?, progress_message = ?, progress_at = ? WHERE id = ?", p.fraction, p.message ?? null, now, job.id);
    out.progressed.add(job.batch_id);
  }
  for (const leaseId of leaseIds) {
    const job = currentLease(sql, leaseId);
    if (job && isLive(job, now) && job.lease_agent === agentId) {
      const expires = job.confirmed
        ? extendedExpiry(job.lease_expires, now, job.grace_ms)
        : Math.max(job.lease_expires, leaseExpiry(now, job.timeout_ms, job.grace_ms));
      sql.exec("UPDATE jobs SET lease_expires = ?, confirmed = 1 WHERE id = ?", expires, job.id);
      out.active.push(leaseId);
    } else if (job?.state === "cancelled" && job.lease_agent === agentId) {
      out.cancelled.push(leaseId);
    } else {
      out.stale.push(leaseId);
    }
  }
  return out;
}

/**
 * Leases that never reached a confirmed start do not spend the budget, but a
 * job cannot be handed out forever: past maxAttempts + this many leases, an
 * unconfirmed expiry counts too (a task that kills its agent before the agent
 * can confirm it would otherwise loop).
 */
export const UNSPENT_ATTEMPTS_CAP = 10;

/**
 * Re-queues (or fails) every job whose lease has run out. A lease that was
 * never confirmed does not spend an attempt: the task never reached an agent.
 * Returns the batches where a job reached a final state.
 */
export function expireLeases(sql: SqlStorage, now: number): Set<string> {
  const rows = sql
    .exec<LeasedRow>(`SELECT ${LEASED_COLUMNS} FROM jobs WHERE state = 'leased' AND lease_expires <= ?`, now)
    .toArray();
  const finished = new Set<string>();
  for (const job of rows) {
    const error = job.confirmed
      ? { name: "LeaseExpired", code: "lease_expired", message: "the agent did not report within its lease" }
      : { name: "NotDelivered", code: "not_delivered", message: "the agent never confirmed it received the task" };
    endAttempt(sql, job.id, job.attempts, "expired", now, error);
    if (!job.confirmed && job.attempts < job.max_attempts + UNSPENT_ATTEMPTS_CAP) {
      requeue(sql, job.id, job.failures, now);
      continue;
    }
    // The agent vanished; the task itself did not fail, so no backoff.
    const failures = job.failures + 1;
    count(sql, "leases_expired");
    if (failures < job.max_attempts) requeue(sql, job.id, failures, now);
    else {
      sql.exec("UPDATE jobs SET failures = ? WHERE id = ?", failures, job.id);
      finish(sql, job, "failed", false, JSON.stringify(error), now);
      finished.add(job.batch_id);
    }
  }
  return finished;
}

/**
 * Gives leases back without spending an attempt: the named ones, and with
 * `unconfirmed` every lease of `agentId` that was never confirmed.
 */
export function release(sql: SqlStorage, agentId: string, leaseIds: string[], unconfirmed: boolean, now: number): { released: string[]; stale: string[] } {
  const out = { released: [] as string[], stale: [] as string[] };
  const jobs: Array<[string, LeasedRow]> = [];
  for (const leaseId of leaseIds) {
    const job = currentLease(sql, leaseId);
    // Only the lease's own agent can give it back.
    if (job && isLive(job, now) && job.lease_agent === agentId) jobs.push([leaseId, job]);
    else out.stale.push(leaseId);
  }
  if (unconfirmed) {
    const rows = sql
      .exec<LeasedRow & { lease_id: string }>(
        `SELECT ${LEASED_COLUMNS}, lease_id FROM jobs WHERE state = 'leased' AND lease_agent = ? AND confirmed = 0`,
        agentId,
      )
      .toArray();
    for (const row of rows) if (!leaseIds.includes(row.lease_id)) jobs.push([row.lease_id, row]);
  }
  for (const [leaseId, job] of jobs) {
    endAttempt(sql, job.id, job.attempts, "released", now);
    requeue(sql, job.id, job.failures, now);
    out.released.push(leaseId);
  }
  return out;
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
