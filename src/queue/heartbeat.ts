// An agent's heartbeat: confirms and extends the leases it holds and stores
// what its running tasks reported through ctx.progress(). One read for all
// the leases it names, then at most one write for progress and one for the
// leases whose expiry moves, however many it holds.

import type { TaskProgress } from "../protocol/index.js";
import { inJsonChunks } from "./json-rows.js";
import { extendedExpiry, leaseExpiry } from "./lease.js";
import { isLive, leasesNamed } from "./lease-rows.js";

export interface HeartbeatOutcome {
  active: string[];
  cancelled: string[];
  stale: string[];
  /** Batches whose running jobs reported progress. */
  progressed: Set<string>;
}

/**
 * Confirms and extends the leases an agent holds; tells it which were
 * cancelled or are no longer its own. The first heartbeat for a lease turns
 * the delivery lease into the full one.
 */
export function heartbeat(sql: SqlStorage, agentId: string, leaseIds: string[], now: number, progress: TaskProgress[] = []): HeartbeatOutcome {
  const out: HeartbeatOutcome = { active: [], cancelled: [], stale: [], progressed: new Set() };
  const jobs = leasesNamed(sql, [...progress.map((p) => p.leaseId), ...leaseIds]);
  // By job id, so a lease named twice is written once (with its last value).
  const progressed = new Map<string, [rid: number, fraction: number, message: string | null]>();
  for (const p of progress) {
    const job = jobs.get(p.leaseId);
    if (!isLive(job, now) || job.lease_agent !== agentId) continue;
    progressed.set(job.id, [job.rid, p.fraction, p.message ?? null]);
    out.progressed.add(job.batch_id);
  }
  const extended = new Map<string, [rid: number, expires: number]>();
  for (const leaseId of leaseIds) {
    const job = jobs.get(leaseId);
    if (isLive(job, now) && job.lease_agent === agentId) {
      const expires = job.confirmed
        ? extendedExpiry(job.lease_expires, now, job.grace_ms)
        : Math.max(job.lease_expires, leaseExpiry(now, job.timeout_ms, job.grace_ms));
      // A confirmed lease far from its end is already right: most heartbeats write nothing.
      if (expires !== job.lease_expires || !job.confirmed) extended.set(job.id, [job.rid, expires]);
      // As the row now reads, for a second mention of the same lease.
      job.lease_expires = expires;
      job.confirmed = 1;
      out.active.push(leaseId);
    } else if (job?.state === "cancelled" && job.lease_agent === agentId) {
      out.cancelled.push(leaseId);
    } else {
      out.stale.push(leaseId);
    }
  }
  inJsonChunks([...progressed.values()], (json) => {
    sql.exec(
      `UPDATE jobs SET progress = p.fraction, progress_message = p.message, progress_at = ?
       FROM (SELECT value->>0 AS rid, value->>1 AS fraction, value->>2 AS message FROM json_each(?)) AS p
       WHERE jobs.rowid = p.rid`,
      now,
      json,
    );
  });
  inJsonChunks([...extended.values()], (json) => {
    sql.exec(
      `UPDATE jobs SET lease_expires = e.expires, confirmed = 1
       FROM (SELECT value->>0 AS rid, value->>1 AS expires FROM json_each(?)) AS e
       WHERE jobs.rowid = e.rid`,
      json,
    );
  });
  return out;
}
