// Writing jobs rows: the statements a submit uses for a batch's first chunk
// and a claim for a staged one (staged.ts).

/** One job row: id, index in the batch, input (JSON text), the submitter's signature. */
export type NewJob = [id: string, index: number, input: string, sig: string | null];

/** What every job of a batch shares, in the order the statements below bind it. */
export type SharedColumns = readonly [
  batchId: string, fnHash: string, priority: number, firstSeq: number, timeoutMs: number, graceMs: number, maxAttempts: number,
  availableAt: number, createdAt: number, signer: string | null,
];

const COLUMNS = `id, batch_id, idx, fn_hash, input, state, priority, seq, timeout_ms, grace_ms, max_attempts, available_at, created_at, signer, sig`;

/** Inserts the jobs of `json`, a JSON array of NewJob rows of one batch, in one statement. */
export function insertJobs(sql: SqlStorage, shared: SharedColumns, json: string): void {
  // Each input goes as a JSON string, so json_each gives back its text as it came.
  sql.exec(
    `INSERT INTO jobs (${COLUMNS})
     SELECT j.value->>0, ?1, j.value->>1, ?2, j.value->>2, 'queued', ?3, ?4 + (j.value->>1), ?5, ?6, ?7, ?8, ?9, ?10, j.value->>3
     FROM json_each(?11) AS j`,
    ...shared,
    json,
  );
}

/** Inserts one job whose JSON is too large to share a parameter with others. */
export function insertJob(sql: SqlStorage, shared: SharedColumns, [id, index, input, sig]: NewJob): void {
  const [batchId, fnHash, ...rest] = shared;
  sql.exec(
    `INSERT INTO jobs (${COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7 + ?3, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`,
    id,
    batchId,
    index,
    fnHash,
    input,
    ...rest,
    sig,
  );
}
