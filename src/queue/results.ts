// Recording the results of one agent request in a few statements, however
// many it carries: the named leases are read at once, each result is judged
// in memory by the rules of `judge` in the order the agent sent them, and
// the writes go out together at the end — attempts, jobs, each batch's
// finished count and completion-order counter, the metrics counters.

import type { TaskError, TaskResult } from "../protocol/index.js";
import { inJsonChunks } from "./json-rows.js";
import { retryDelayMs } from "./lease.js";
import { isLive, leasesNamed, type LeasedRow } from "./lease-rows.js";
import { ATTEMPT_COLUMNS, ENDED_ATTEMPT_FROM_JOB, ON_ATTEMPT_CONFLICT } from "./attempt-rows.js";

export type Recorded = { status: "stale" } | { status: "accepted"; batchId: string; outcome: "done" | "requeued" | "failed" };

// An attempt that ended otherwise than in success (a success stays on the job row: see schema.ts).
type AttemptEnd = [rid: number, outcome: string, error: string | null, rejected: string | null];
// Jobs are written by rowid (LeasedRow.rid), read by the same call.
type Requeue = [rid: number, failures: number, availableAt: number];
type Finish = [rid: number, state: string, ok: 0 | 1, result: string, doneSeq: number, failures: number];

/** The writes a request's results add up to, gathered before any is made. */
class Writes {
  readonly attempts: AttemptEnd[] = [];
  readonly requeues: Requeue[] = [];
  readonly finishes: Finish[] = [];
  /** Per batch: jobs finished by this request, and its completion-order counter as it now stands. */
  readonly batches = new Map<string, { finished: number; lastSeq: number }>();
  readonly counters = new Map<string, number>();

  constructor(
    private readonly sql: SqlStorage,
    readonly now: number,
  ) {}

  endAttempt(job: LeasedRow, outcome: "rejected" | "error", error?: TaskError, rejected?: string): void {
    this.attempts.push([job.rid, outcome, error ? JSON.stringify(error) : null, rejected ?? null]);
  }

  /** Back to the queue, runnable from `availableAt`, with the lease cleared. */
  requeue(job: LeasedRow, failures: number, availableAt: number): void {
    this.requeues.push([job.rid, failures, availableAt]);
  }

  /** To a final state, at the next place in its batch's completion order. */
  finish(job: LeasedRow, state: "done" | "failed", result: string, failures: number): void {
    let batch = this.batches.get(job.batch_id);
    if (!batch) {
      const { last_seq } = this.sql.exec<{ last_seq: number }>("SELECT last_seq FROM batches WHERE id = ?", job.batch_id).one();
      batch = { finished: 0, lastSeq: last_seq };
      this.batches.set(job.batch_id, batch);
    }
    batch.finished += 1;
    batch.lastSeq += 1;
    this.finishes.push([job.rid, state, state === "done" ? 1 : 0, result, batch.lastSeq, failures]);
    this.count(`jobs_${state}`);
  }

  count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  /** After an attempt that spent the budget: back with backoff, or `failed` when none is left. */
  retryOrFail(job: LeasedRow, error: TaskError): "requeued" | "failed" {
    const failures = job.failures + 1;
    if (failures < job.max_attempts) {
      this.requeue(job, failures, this.now + retryDelayMs(failures));
      this.count("retries");
      return "requeued";
    }
    this.finish(job, "failed", JSON.stringify(error), failures);
    return "failed";
  }

  flush(): void {
    const { sql, now } = this;
    // Before the jobs are written: the rows are made from their leases.
    inJsonChunks(this.attempts, (json) =>
      sql.exec(
        `INSERT INTO attempts (${ATTEMPT_COLUMNS})
         SELECT ${ENDED_ATTEMPT_FROM_JOB}, a.value->>1, a.value->>2, a.value->>3
         FROM json_each(?2) AS a JOIN jobs j ON j.rowid = a.value->>0 WHERE true
         ${ON_ATTEMPT_CONFLICT}`,
        now,
        json,
      ),
    );
    inJsonChunks(this.requeues, (json) =>
      sql.exec(
        `UPDATE jobs SET state = 'queued', failures = r.failures, lease_id = NULL, lease_agent = NULL, lease_expires = NULL,
                confirmed = 0, available_at = r.available_at, progress = NULL, progress_message = NULL, progress_at = NULL
         FROM (SELECT value->>0 AS rid, value->>1 AS failures, value->>2 AS available_at FROM json_each(?)) AS r
         WHERE jobs.rowid = r.rid`,
        json,
      ),
    );
    inJsonChunks(
      this.finishes,
      (json) =>
        sql.exec(
          `UPDATE jobs SET state = f.state, ok = f.ok, result = f.result, finished_at = ?, done_seq = f.done_seq,
                  failures = f.failures, lease_expires = NULL
           FROM (SELECT value->>0 AS rid, value->>1 AS state, value->>2 AS ok, value->>3 AS result, value->>4 AS done_seq,
                        value->>5 AS failures FROM json_each(?)) AS f
           WHERE jobs.rowid = f.rid`,
          now,
          json,
        ),
      ([rid, state, ok, result, doneSeq, failures]) =>
        sql.exec(
          "UPDATE jobs SET state = ?, ok = ?, result = ?, finished_at = ?, done_seq = ?, failures = ?, lease_expires = NULL WHERE rowid = ?",
          state,
          ok,
          result,
          now,
          doneSeq,
          failures,
          rid,
        ),
    );
    inJsonChunks([...this.batches].map(([id, b]) => [id, b.finished, b.lastSeq]), (json) =>
      sql.exec(
        `UPDATE batches SET finished = batches.finished + b.n, last_seq = b.seq
         FROM (SELECT value->>0 AS id, value->>1 AS n, value->>2 AS seq FROM json_each(?)) AS b
         WHERE batches.id = b.id`,
        json,
      ),
    );
    inJsonChunks([...this.counters], (json) =>
      sql.exec(
        // `WHERE true` tells SQLite the ON CONFLICT below is the upsert's, not a join's.
        `INSERT INTO counters (name, value) SELECT c.value->>0, c.value->>1 FROM json_each(?) AS c WHERE true
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value`,
        json,
      ),
    );
  }
}

/**
 * Judges one result. Anything but the current, unexpired lease of a leased
 * job, reported by the agent holding it, is stale — with one exception: an
 * agent that was handed another agent's envelope (a misrouted or replayed
 * answer) may refuse it while the lease is unconfirmed; that sends the task
 * straight back without spending an attempt.
 */
function judge(w: Writes, job: LeasedRow, result: TaskResult, maxResultBytes: number, agentId: string): Recorded {
  const accepted = (outcome: "done" | "requeued" | "failed"): Recorded => ({ status: "accepted", batchId: job.batch_id, outcome });
  if (job.lease_agent !== agentId) {
    if (!result.rejected || job.confirmed) return { status: "stale" };
    w.endAttempt(job, "rejected", undefined, result.rejected);
    w.requeue(job, job.failures, w.now);
    return accepted("requeued");
  }
  if (result.rejected) {
    const error = { name: "Rejected", code: result.rejected, message: `agent refused the task: ${result.rejected}` };
    w.endAttempt(job, "rejected", undefined, result.rejected);
    return accepted(w.retryOrFail(job, error));
  }
  if (result.ok) {
    const text = JSON.stringify(result.value ?? null);
    if (text.length > maxResultBytes) {
      const error = { name: "ResultTooLarge", code: "result_too_large", message: `result is larger than ${maxResultBytes} bytes` };
      w.endAttempt(job, "error", error);
      return accepted(w.retryOrFail(job, error));
    }
    w.finish(job, "done", text, job.failures);
    return accepted("done");
  }
  const error = result.error ?? { name: "Error", message: "the task failed without an error" };
  w.endAttempt(job, "error", error);
  return accepted(w.retryOrFail(job, error));
}

/** Records an agent's results, in order; returns what became of each. */
export function recordResults(sql: SqlStorage, results: readonly TaskResult[], now: number, maxResultBytes: number, agentId: string): Recorded[] {
  const jobs = leasesNamed(sql, results.map((r) => r.leaseId));
  const writes = new Writes(sql, now);
  const recorded = results.map((result): Recorded => {
    const job = jobs.get(result.leaseId);
    if (!isLive(job, now)) return { status: "stale" };
    const answer = judge(writes, job, result, maxResultBytes, agentId);
    // An accepted result ends the lease: the same lease named again in this request is stale.
    if (answer.status === "accepted") jobs.delete(result.leaseId);
    return answer;
  });
  writes.flush();
  return recorded;
}
