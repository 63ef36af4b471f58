// Handing ready jobs to an agent: one read, then one write to the jobs for
// the whole claim, however many slots it fills. The attempt it starts lives
// on the job row until it ends otherwise than in success (see schema.ts).
// Lease ids are drawn here, in JS, and handed to SQLite as a JSON list.

import { newLeaseId, type Task } from "../protocol/index.js";
import { inJsonChunks, rowsOf } from "./json-rows.js";
import { leaseExpiry } from "./lease.js";

type ReadyRow = { rid: number; id: string; fn_hash: string; input: string; timeout_ms: number; grace_ms: number; attempts: number; signer: string | null; sig: string | null };
/** One grant: job id, lease id, attempt number, lease expiry, the agent's lease count with it, the job's rowid (see LeasedRow). */
type Grant = [id: string, leaseId: string, attempt: number, expires: number, held: number, rid: number];

/**
 * Gives up to `slots` ready jobs to `agentId`, best priority first, FIFO
 * within a priority. Each starts on a delivery lease (see transitions.ts).
 */
export function claim(sql: SqlStorage, queue: string, agentId: string, slots: number, now: number, deliveryMs: number): Task[] {
  const rows = rowsOf(
    sql.exec<ReadyRow>(
      `SELECT rowid AS rid, id, fn_hash, input, timeout_ms, grace_ms, attempts, signer, sig FROM jobs
       WHERE state = 'queued' AND available_at <= ? ORDER BY priority DESC, seq LIMIT ?`,
      now,
      slots,
    ),
  );
  if (rows.length === 0) return [];
  const held = sql
    .exec<{ n: number }>("SELECT COUNT(*) AS n FROM jobs WHERE state = 'leased' AND lease_agent = ?", agentId)
    .one().n;
  const grants = rows.map((row, i): Grant => [
    row.id,
    newLeaseId(queue),
    row.attempts + 1,
    Math.min(now + deliveryMs, leaseExpiry(now, row.timeout_ms, row.grace_ms)),
    held + i + 1,
    row.rid,
  ]);
  inJsonChunks(grants, (json) => {
    sql.exec(
      `UPDATE jobs SET state = 'leased', attempts = g.attempt, lease_id = g.lease_id, lease_agent = ?1, lease_expires = g.expires,
              confirmed = 0, started_at = COALESCE(started_at, ?2), leased_at = ?2, lease_held = g.held
       FROM (SELECT value->>5 AS rid, value->>1 AS lease_id, value->>2 AS attempt, value->>3 AS expires, value->>4 AS held
             FROM json_each(?3)) AS g
       WHERE jobs.rowid = g.rid`,
      agentId,
      now,
      json,
    );
  });
  return rows.map((row, i) => {
    const [, leaseId, attempt] = grants[i]!;
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
