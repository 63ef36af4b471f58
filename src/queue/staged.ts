// A large batch's jobs are written in two steps. The submit's transaction
// writes the batch row, the jobs rows of its first chunk and the rest as
// staged chunks: one `staged` row per STAGE_ROWS jobs, holding their JSON
// as insertJobs takes it. A jobs row with its indices is written again by
// each claim and each result; a staged row is written once. So a 10,000-job
// submit holds the object a fraction of the time that writing all of its
// jobs took (its POST 49-79 -> 16-48 ms, coordinator alone), during which
// the agents waited for their first tasks, and for their results to be
// taken, every time a batch came in.
// A claim then turns the first staged chunks (best priority, then seq) into
// jobs rows before it picks; every other reader of jobs rows turns all of
// them first (materialize with no limit).
//
// Why a claim still picks the best jobs: a chunk is a run of one batch's
// seqs and no two batches' runs overlap, so every staged job sorts after
// every job of the first staged chunk. Once the first chunks holding at
// least `slots` jobs are rows, the best `slots` of all the queued jobs are
// rows.

import { inJsonChunks, JSON_CHUNK_CHARS } from "./json-rows.js";
import { insertJob, insertJobs, type NewJob, type SharedColumns } from "./job-insert.js";

/** Jobs per staged chunk, and in the chunk a submit writes as rows at once. */
export const STAGE_ROWS = 500;

/**
 * Writes `rows` of one batch: the first chunk as jobs rows, the others
 * staged. A row whose JSON is too large to share a chunk becomes a jobs row
 * at once, wherever it is in the batch (a claim's pick stays right: see above).
 */
export function stageJobs(sql: SqlStorage, shared: SharedColumns, rows: readonly NewJob[]): void {
  let first = true;
  inJsonChunks(
    rows,
    (json) => {
      if (first) {
        first = false;
        return insertJobs(sql, shared, json);
      }
      sql.exec(
        `INSERT INTO staged (batch_id, priority, first_seq, n, shared, rows)
         VALUES (?1, ?2, ?3 + (?5 ->> '$[0][1]'), json_array_length(?5), ?4, ?5)`,
        shared[0],
        shared[2],
        shared[3],
        JSON.stringify(shared),
        json,
      );
    },
    (row) => insertJob(sql, shared, row),
    JSON_CHUNK_CHARS,
    STAGE_ROWS,
  );
}

/**
 * Turns staged chunks into jobs rows, best first, until at least `minJobs`
 * jobs (all of them by default). Call it inside a transaction. Returns
 * false once nothing is staged, true when some may be.
 */
export function materialize(sql: SqlStorage, minJobs = Infinity): boolean {
  let written = 0;
  for (;;) {
    if (written >= minJobs) return true;
    const next = sql
      .exec<{ rid: number; n: number; shared: string; rows: string }>("SELECT rowid AS rid, n, shared, rows FROM staged ORDER BY priority DESC, first_seq LIMIT 1")
      .toArray()[0];
    if (!next) return false;
    insertJobs(sql, JSON.parse(next.shared) as SharedColumns, next.rows);
    sql.exec("DELETE FROM staged WHERE rowid = ?", next.rid);
    written += next.n;
  }
}
