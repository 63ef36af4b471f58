// The attempts history. The running or successful attempt lives on the job
// row; an attempt gets its row in `attempts` only when it ends otherwise
// (error, rejection, expiry, release, cancellation), so a job that succeeds
// at once never writes that table (see schema.ts). This file writes those
// rows and puts the whole history back together for the views.

import type { AttemptView, JobState, RejectionCode, TaskError } from "../protocol/index.js";

/**
 * Columns of an `attempts` row made from the job row `j` while it still
 * holds the attempt's lease; ?1 is now (see schema.ts for why attempts are
 * written only when they end otherwise than in success).
 */
export const ENDED_ATTEMPT_FROM_JOB = `j.id, j.attempts, j.lease_id, j.lease_agent, COALESCE(j.leased_at, j.started_at, ?1), ?1,
  COALESCE(j.lease_held, 0)`;
export const ATTEMPT_COLUMNS = "job_id, attempt, lease_id, agent_id, leased_at, ended_at, agent_held, outcome, error, rejected";
/**
 * SQL for the agent of job `j`'s last attempt: its lease holder while the row
 * still names one (running or succeeded), else that attempt's ended row.
 */
export const LAST_AGENT_OF_JOB = "COALESCE(j.lease_agent, (SELECT agent_id FROM attempts a WHERE a.job_id = j.id AND a.attempt = j.attempts))";
/** A row an earlier version wrote when the lease began ('running') is ended in place. */
export const ON_ATTEMPT_CONFLICT = `ON CONFLICT(job_id, attempt) DO UPDATE SET
  ended_at = excluded.ended_at, outcome = excluded.outcome, error = excluded.error, rejected = excluded.rejected`;

/**
 * Records how the job's current attempt ended; call it before the job row
 * lets go of the lease. A job that holds no lease any more records nothing
 * (its attempt's end is already written).
 */
export function endAttempt(sql: SqlStorage, jobId: string, attempt: number, outcome: string, now: number, error?: TaskError, rejected?: string): void {
  sql.exec(
    `INSERT INTO attempts (${ATTEMPT_COLUMNS})
     SELECT ${ENDED_ATTEMPT_FROM_JOB}, ?2, ?3, ?4 FROM jobs j
     WHERE j.id = ?5 AND j.attempts = ?6 AND j.lease_id IS NOT NULL AND j.lease_agent IS NOT NULL
     ${ON_ATTEMPT_CONFLICT}`,
    now,
    outcome,
    error ? JSON.stringify(error) : null,
    rejected ?? null,
    jobId,
    attempt,
  );
}

type AttemptRow = {
  attempt: number;
  agent_id: string;
  leased_at: number;
  ended_at: number | null;
  outcome: AttemptView["outcome"];
  error: string | null;
  rejected: string | null;
  agent_held: number;
};

/** What of the job row the history needs. */
export type AttemptsOfJob = {
  id: string;
  state: JobState;
  attempts: number;
  lease_agent: string | null;
  leased_at: number | null;
  lease_held: number | null;
  started_at: number | null;
  finished_at: number | null;
};

/** Every attempt of a job, oldest first: the ended ones' rows, and the one the job row holds. */
export function attemptHistory(sql: SqlStorage, job: AttemptsOfJob): AttemptView[] {
  const history = sql
    .exec<AttemptRow>("SELECT * FROM attempts WHERE job_id = ? ORDER BY attempt", job.id)
    .toArray()
    .map((a): AttemptView => ({
      attempt: a.attempt,
      agentId: a.agent_id,
      leasedAt: a.leased_at,
      endedAt: a.ended_at,
      outcome: a.outcome,
      ...(a.error ? { error: JSON.parse(a.error) as TaskError } : {}),
      ...(a.rejected ? { rejected: a.rejected as RejectionCode } : {}),
      agentHeld: a.agent_held,
    }));
  // Only a leased job's attempt, or a done job's last one, can lack its row (or have an
  // earlier version's 'running' row): the job row says how it stands.
  const onJobRow = job.state === "leased" || job.state === "done";
  const last = history.at(-1);
  if (!onJobRow || job.attempts === 0 || job.lease_agent === null) return history;
  if (last?.attempt === job.attempts && last.outcome !== "running") return history;
  const current: AttemptView = {
    attempt: job.attempts,
    agentId: job.lease_agent,
    leasedAt: job.leased_at ?? last?.leasedAt ?? job.started_at ?? 0,
    endedAt: job.state === "done" ? job.finished_at : null,
    outcome: job.state === "done" ? "ok" : "running",
    agentHeld: job.lease_held ?? last?.agentHeld ?? 0,
  };
  if (last?.attempt === job.attempts) history[history.length - 1] = current;
  else history.push(current);
  return history;
}
