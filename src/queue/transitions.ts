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

import { endAttempt } from "./attempt-rows.js";
import { currentLease, isLive, LEASED_COLUMNS, type LeasedRow } from "./lease-rows.js";

// The hot transitions, set-based: one statement per request, not per job.
export { claim } from "./claim.js";
export { heartbeat } from "./heartbeat.js";
export { recordResults, type Recorded } from "./results.js";

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
  const named = new Set<string>();
  for (const leaseId of leaseIds) {
    const job = currentLease(sql, leaseId);
    // Only the lease's own agent can give it back, once: the same lease named again is stale (as in results).
    if (job && isLive(job, now) && job.lease_agent === agentId && !named.has(leaseId)) jobs.push([leaseId, job]);
    else out.stale.push(leaseId);
    named.add(leaseId);
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

/** When the object must next wake: the earliest lease expiry or delayed retry (only retries wait: failures > 0, see schema.ts). */
export function nextWakeAt(sql: SqlStorage, now: number): number | null {
  const row = sql
    .exec<{ lease: number | null; retry: number | null }>(
      `SELECT (SELECT MIN(lease_expires) FROM jobs WHERE state = 'leased') AS lease,
              (SELECT MIN(available_at) FROM jobs WHERE state = 'queued' AND failures > 0 AND available_at > ?) AS retry`,
      now,
    )
    .one();
  const times = [row.lease, row.retry].filter((t): t is number => t !== null);
  return times.length ? Math.min(...times) : null;
}
