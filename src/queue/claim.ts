// Handing ready jobs to an agent: one statement picks them, best priority
// first and FIFO within a priority, starts each one's attempt on the job row
// (where it lives until it ends otherwise than in success; see schema.ts) and
// returns what the tasks need. The lease ids are drawn in JS, all at once,
// and cut out by SQL in claim order from a BLOB: substr() of a BLOB goes
// straight to its byte offset, of TEXT it counts characters from the start
// (3% of workerd's CPU in the bench, measured with perf).

import { LEASE_RANDOM_CHARS, newLeaseIds, utf8, type Task } from "../protocol/index.js";

type GrantedRow = [id: string, fnHash: string, input: string, timeoutMs: number, attempt: number, signer: string | null, sig: string | null, leaseId: string, held: number];

/**
 * Gives up to `slots` ready jobs to `agentId`. Each starts on a delivery
 * lease (see transitions.ts): it expires after `deliveryMs` unless the
 * agent confirms it, and never later than the job's own timeout and grace
 * allow (leaseExpiry in lease.ts).
 */
export function claim(sql: SqlStorage, queue: string, agentId: string, slots: number, now: number, deliveryMs: number): Task[] {
  const held = sql
    .exec<{ n: number }>("SELECT COUNT(*) AS n FROM jobs WHERE state = 'leased' AND lease_agent = ?", agentId)
    .one().n;
  const ids = newLeaseIds(queue, slots);
  // The inner SELECT stops after `slots` rows of jobs_ready; they are numbered (n, from 1) in that order.
  const granted = sql
    .exec(
      `UPDATE jobs SET state = 'leased', attempts = jobs.attempts + 1, lease_id = ?1 || substr(?2, (c.n - 1) * ${LEASE_RANDOM_CHARS} + 1, ${LEASE_RANDOM_CHARS}),
              lease_agent = ?3, lease_expires = MIN(?4 + ?5, ?4 + jobs.timeout_ms + jobs.grace_ms), confirmed = 0,
              started_at = COALESCE(started_at, ?4), leased_at = ?4, lease_held = ?6 + c.n
       FROM (SELECT rid, row_number() OVER (ORDER BY pr DESC, sq) AS n
             FROM (SELECT rowid AS rid, priority AS pr, seq AS sq FROM jobs
                   WHERE state = 'queued' AND available_at <= ?4 ORDER BY priority DESC, seq LIMIT ?7)) AS c
       WHERE jobs.rowid = c.rid
       RETURNING id, fn_hash, input, timeout_ms, attempts, signer, sig, lease_id, lease_held`,
      ids.prefix,
      utf8(ids.random).buffer,
      agentId,
      now,
      deliveryMs,
      held,
      slots,
    )
    .raw<GrantedRow>();
  const tasks = Array.from(granted, ([jobId, fnHash, input, timeoutMs, attempt, signer, sig, leaseId, n]) => ({
    n,
    task: {
      jobId,
      leaseId,
      attempt,
      queue,
      fnHash,
      input: JSON.parse(input) as unknown,
      timeoutMs,
      ...(signer && sig ? { signer, sig } : {}),
    } satisfies Task,
  }));
  // RETURNING gives rows in no promised order: put them back in claim order.
  return tasks.sort((a, b) => a.n - b.n).map((t) => t.task);
}
