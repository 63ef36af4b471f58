// Read models: rows of the queue's tables turned into the wire's views.

import {
  JOB_STATES,
  type BatchView,
  type JobState,
  type JobsPage,
  type JobsQuery,
  type JobView,
  type ProgressEntry,
  type ResultEntry,
  type TaskError,
} from "../protocol/index.js";
import { attemptHistory, LAST_AGENT_OF_JOB } from "./attempt-rows.js";

type JobRow = {
  id: string;
  batch_id: string;
  idx: number;
  fn_hash: string;
  state: JobState;
  priority: number;
  attempts: number;
  failures: number;
  max_attempts: number;
  timeout_ms: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  lease_agent: string | null;
  ok: number | null;
  result: string | null;
  progress: number | null;
  progress_message: string | null;
  progress_at: number | null;
  leased_at: number | null;
  lease_held: number | null;
};

function outcomeFields(ok: number | null, result: string | null): { ok?: boolean; value?: unknown; error?: TaskError } {
  if (ok === null || result === null) return {};
  return ok ? { ok: true, value: JSON.parse(result) } : { ok: false, error: JSON.parse(result) as TaskError };
}

export function jobView(sql: SqlStorage, queue: string, jobId: string): JobView | null {
  const row = sql.exec<JobRow>("SELECT * FROM jobs WHERE id = ?", jobId).toArray()[0];
  return row ? toJobView(sql, queue, row) : null;
}

/** A page of a batch's jobs in index order, optionally only those in one state. */
export function jobsPage(sql: SqlStorage, queue: string, batchId: string, query: JobsQuery): JobsPage {
  const rows = query.state
    ? sql.exec<JobRow>("SELECT * FROM jobs WHERE batch_id = ? AND state = ? AND idx > ? ORDER BY idx LIMIT ?", batchId, query.state, query.after, query.limit + 1)
    : sql.exec<JobRow>("SELECT * FROM jobs WHERE batch_id = ? AND idx > ? ORDER BY idx LIMIT ?", batchId, query.after, query.limit + 1);
  const list = rows.toArray();
  const more = list.length > query.limit;
  const jobs = list.slice(0, query.limit).map((row) => toJobView(sql, queue, row));
  return { jobs, next: jobs.at(-1)?.index ?? query.after, more };
}

function toJobView(sql: SqlStorage, queue: string, row: JobRow): JobView {
  const history = attemptHistory(sql, row);
  const lastAgent = history.at(-1)?.agentId ?? null;
  return {
    id: row.id,
    batchId: row.batch_id,
    index: row.idx,
    queue,
    state: row.state,
    fnHash: row.fn_hash,
    priority: row.priority,
    attempts: row.attempts,
    failures: row.failures,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    agentId: row.lease_agent ?? lastAgent,
    ...outcomeFields(row.ok, row.result),
    ...(row.state === "leased" && row.progress !== null && row.progress_at !== null
      ? { progress: { fraction: row.progress, ...(row.progress_message ? { message: row.progress_message } : {}), at: row.progress_at } }
      : {}),
    history,
  };
}

export function batchView(sql: SqlStorage, queue: string, batchId: string): BatchView | null {
  const batch = sql
    .exec<{ fn_hash: string; total: number; finished: number; created_at: number }>(
      "SELECT fn_hash, total, finished, created_at FROM batches WHERE id = ?",
      batchId,
    )
    .toArray()[0];
  if (!batch) return null;
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  for (const row of sql.exec<{ state: JobState; n: number }>(
    "SELECT state, COUNT(*) AS n FROM jobs WHERE batch_id = ? GROUP BY state",
    batchId,
  )) {
    counts[row.state] = row.n;
  }
  return {
    id: batchId,
    queue,
    fnHash: batch.fn_hash,
    total: batch.total,
    done: batch.finished >= batch.total,
    counts,
    createdAt: batch.created_at,
  };
}

/** Results of a batch in completion order, after cursor `after`. */
export function resultsAfter(sql: SqlStorage, batchId: string, after: number, limit: number): ResultEntry[] {
  // Read as arrays (raw()): a row per job, and workerd makes arrays faster than objects (json-rows.ts).
  const rows = sql
    .exec(
      `SELECT j.id, j.idx, j.ok, j.result, j.finished_at, j.done_seq, j.attempts,
              ${LAST_AGENT_OF_JOB} AS agent_id
       FROM jobs j WHERE j.batch_id = ? AND j.done_seq > ? ORDER BY j.done_seq LIMIT ?`,
      batchId,
      after,
      limit,
    )
    .raw<[id: string, idx: number, ok: number, result: string, finishedAt: number, doneSeq: number, attempts: number, agentId: string | null]>();
  return Array.from(rows, ([id, idx, ok, result, finishedAt, doneSeq, attempts, agentId]) => ({
    seq: doneSeq,
    jobId: id,
    index: idx,
    ...(outcomeFields(ok, result) as { ok: boolean }),
    agentId,
    attempt: attempts,
    finishedAt,
  }));
}

export function progressSince(sql: SqlStorage, batchId: string, since: number): ProgressEntry[] {
  return sql
    .exec<{ id: string; idx: number; progress: number; progress_message: string | null; progress_at: number }>(
      `SELECT id, idx, progress, progress_message, progress_at FROM jobs
       WHERE batch_id = ? AND state = 'leased' AND progress_at > ? ORDER BY progress_at LIMIT 1000`,
      batchId,
      since,
    )
    .toArray()
    .map((r) => ({ jobId: r.id, index: r.idx, fraction: r.progress, ...(r.progress_message ? { message: r.progress_message } : {}), at: r.progress_at }));
}

export interface Progress {
  total: number;
  /** Jobs now in a final state. */
  finished: number;
  /** The batch's last completion-order position handed out. */
  lastSeq: number;
}

export function batchProgress(sql: SqlStorage, batchId: string): Progress | null {
  const row = sql
    .exec<{ total: number; finished: number; last_seq: number }>("SELECT total, finished, last_seq FROM batches WHERE id = ?", batchId)
    .toArray()[0];
  return row ? { total: row.total, finished: row.finished, lastSeq: row.last_seq } : null;
}
