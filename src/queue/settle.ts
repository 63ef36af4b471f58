// What submitters do to jobs after the fact: cancel unfinished ones, and put
// failed ones (the dead letters) back in the queue with a fresh budget.

import { endAttempt } from "./attempt-rows.js";
import { finish } from "./transitions.js";

export type Scope = { jobId: string } | { batchId: string };

function select(sql: SqlStorage, scope: Scope, states: string): Array<{ id: string; batch_id: string; state: string; attempts: number }> {
  const byJob = "jobId" in scope;
  return sql
    .exec<{ id: string; batch_id: string; state: string; attempts: number }>(
      `SELECT id, batch_id, state, attempts FROM jobs WHERE ${byJob ? "id" : "batch_id"} = ? AND state IN (${states})`,
      byJob ? scope.jobId : scope.batchId,
    )
    .toArray();
}

/** Cancels the unfinished jobs in scope. Returns how many. */
export function cancel(sql: SqlStorage, scope: Scope, now: number): number {
  const rows = select(sql, scope, "'queued', 'leased'");
  const error = { name: "Cancelled", code: "cancelled", message: "the job was cancelled" };
  for (const job of rows) {
    if (job.state === "leased") endAttempt(sql, job.id, job.attempts, "cancelled", now, error);
    // The lease id stays on the row so the running agent's next heartbeat learns of the cancel.
    finish(sql, job, "cancelled", false, JSON.stringify(error), now);
  }
  return rows.length;
}

/**
 * Re-queues the failed jobs in scope with their failure budget reset. Their
 * history stays; their old result leaves the completion stream, and the new
 * one will take a later place in it.
 */
export function requeueFailed(sql: SqlStorage, scope: Scope, now: number): number {
  const rows = select(sql, scope, "'failed'");
  for (const job of rows) {
    sql.exec(
      `UPDATE jobs SET state = 'queued', failures = 0, available_at = ?, ok = NULL, result = NULL, finished_at = NULL,
              done_seq = NULL, lease_id = NULL, lease_agent = NULL, lease_expires = NULL, confirmed = 0 WHERE id = ?`,
      now,
      job.id,
    );
    sql.exec("UPDATE batches SET finished = finished - 1 WHERE id = ?", job.batch_id);
  }
  return rows.length;
}
