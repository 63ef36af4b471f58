// The usual agent request, every result a success: recorded by one UPDATE
// that finds each job by its lease, numbers the batch's completion order and
// writes the job, instead of reading the leases into JS first (results.ts).
// It applies the rules of `judge` for a success: the current, unexpired
// lease of a leased job, held by the agent reporting it, is done; anything
// else is stale.

import type { TaskResult } from "../protocol/index.js";
import { JSON_CHUNK_CHARS } from "./json-rows.js";
import type { Recorded } from "./results.js";

/**
 * Records `results` if each is a success within `maxResultBytes` and names
 * a lease no other one in the request names, and all of them surely fit one
 * JSON parameter; null (nothing written) if not, for the general path to
 * judge them one by one.
 */
export function recordSuccesses(sql: SqlStorage, results: readonly TaskResult[], now: number, maxResultBytes: number, agentId: string): Recorded[] | null {
  const seen = new Set<string>();
  const rows: Array<[leaseId: string, result: string]> = [];
  // JSON.stringify makes at most 6 characters of one (a control character as \u0000).
  let worstChars = 2;
  for (const result of results) {
    if (!result.ok || result.rejected || seen.has(result.leaseId)) return null;
    const text = JSON.stringify(result.value ?? null);
    if (text.length > maxResultBytes) return null;
    worstChars += (result.leaseId.length + text.length) * 6 + 8;
    if (worstChars > JSON_CHUNK_CHARS) return null;
    seen.add(result.leaseId);
    rows.push([result.leaseId, text]);
  }
  if (rows.length === 0) return null;
  // Per batch: how many this request finished, and its completion-order counter after them.
  const batches = new Map<string, { finished: number; lastSeq: number }>();
  const done = new Map<string, string>();
  // A batch's numbers continue from its counter in the order the results were sent (json_each's
  // key), over the ones that match only: a stale result takes no place in the order.
  const cursor = sql.exec(
    `UPDATE jobs SET state = 'done', ok = 1, result = m.result, finished_at = ?1, done_seq = m.seq, lease_expires = NULL
     FROM (SELECT j.rowid AS rid, r.value->>1 AS result,
                  b.last_seq + row_number() OVER (PARTITION BY j.batch_id ORDER BY r.key) AS seq
           FROM json_each(?3) AS r
           JOIN jobs j ON j.lease_id = r.value->>0 AND j.lease_id IS NOT NULL
           JOIN batches b ON b.id = j.batch_id
           WHERE j.state = 'leased' AND j.lease_expires > ?1 AND j.lease_agent = ?2) AS m
     WHERE jobs.rowid = m.rid
     RETURNING jobs.lease_id, jobs.batch_id, jobs.done_seq`,
    now,
    agentId,
    JSON.stringify(rows),
  );
  for (const [leaseId, batchId, seq] of cursor.raw<[string, string, number]>()) {
    done.set(leaseId, batchId);
    const batch = batches.get(batchId);
    if (batch) {
      batch.finished += 1;
      batch.lastSeq = Math.max(batch.lastSeq, seq);
    } else batches.set(batchId, { finished: 1, lastSeq: seq });
  }
  if (batches.size > 0) {
    sql.exec(
      `UPDATE batches SET finished = batches.finished + b.n, last_seq = b.seq
       FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS seq FROM json_each(?)) AS b
       WHERE batches.id = b.id`,
      JSON.stringify([...batches].map(([id, b]) => [id, b.finished, b.lastSeq])),
    );
    sql.exec(
      "INSERT INTO counters (name, value) VALUES ('jobs_done', ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
      done.size,
    );
  }
  return results.map((result): Recorded => {
    const batchId = done.get(result.leaseId);
    return batchId === undefined ? { status: "stale" } : { status: "accepted", batchId, outcome: "done" };
  });
}
