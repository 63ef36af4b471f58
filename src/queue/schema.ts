// The queue's SQLite schema. Each statement is idempotent so it can run on
// every start of the object; later changes append new statements.

export const QUEUE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS batches (
     id TEXT PRIMARY KEY,
     fn_hash TEXT NOT NULL,
     total INTEGER NOT NULL,
     finished INTEGER NOT NULL DEFAULT 0,      -- jobs now in a final state
     last_seq INTEGER NOT NULL DEFAULT 0,      -- the batch's completion-order counter (never goes back)
     created_at INTEGER NOT NULL,
     idem_key TEXT,
     idem_digest TEXT
   )`,
  `CREATE UNIQUE INDEX IF NOT EXISTS batches_idem ON batches(idem_key) WHERE idem_key IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS jobs (
     id TEXT PRIMARY KEY,
     batch_id TEXT NOT NULL,
     idx INTEGER NOT NULL,
     fn_hash TEXT NOT NULL,
     input TEXT NOT NULL,                      -- JSON text
     state TEXT NOT NULL,                      -- queued | leased | done | failed | cancelled
     priority INTEGER NOT NULL,
     seq INTEGER NOT NULL,                     -- submission order, for FIFO within a priority
     timeout_ms INTEGER NOT NULL,
     grace_ms INTEGER NOT NULL,
     max_attempts INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,     -- leases granted so far (the history's length)
     failures INTEGER NOT NULL DEFAULT 0,     -- attempts that spent the budget (error, expiry after start, rejection)
     available_at INTEGER NOT NULL,            -- not before (retry backoff)
     lease_id TEXT,
     lease_agent TEXT,
     lease_expires INTEGER,
     confirmed INTEGER NOT NULL DEFAULT 0,    -- the agent confirmed it holds the current lease
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     ok INTEGER,
     result TEXT,                              -- JSON: the value, or the error
     done_seq INTEGER                          -- position in the batch's completion order
   )`,
  `CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(priority DESC, seq) WHERE state = 'queued'`,
  // Only a failed attempt's retry waits (available_at in the future, failures ≥ 1): every other
  // path queues a job for now. Indexing just those keeps fresh jobs out of this index.
  `CREATE INDEX IF NOT EXISTS jobs_retry ON jobs(available_at) WHERE state = 'queued' AND failures > 0`,
  `CREATE UNIQUE INDEX IF NOT EXISTS jobs_lease ON jobs(lease_id) WHERE lease_id IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(lease_expires) WHERE state = 'leased'`,
  // Without `confirmed`: a confirmation would otherwise move every job's entry once more.
  `CREATE INDEX IF NOT EXISTS jobs_leased_by ON jobs(lease_agent) WHERE state = 'leased'`,
  `CREATE INDEX IF NOT EXISTS jobs_batch_idx ON jobs(batch_id, idx)`,
  `CREATE INDEX IF NOT EXISTS jobs_batch_done ON jobs(batch_id, done_seq) WHERE done_seq IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL`,
  // Indices of earlier versions that cost every job an update and saved little (bench: workerd
  // ~117 -> ~97 µs/job without them): listing a batch's jobs by state now filters jobs_batch_idx.
  `DROP INDEX IF EXISTS jobs_delayed`,
  `DROP INDEX IF EXISTS jobs_batch_state`,
  `DROP INDEX IF EXISTS jobs_agent`,
  // The attempts that ended other than in the job's success. The running or
  // successful attempt lives on the job row (attempts, lease_id, lease_agent,
  // leased_at, lease_held) and gets its row here only when it ends otherwise,
  // so a job that succeeds at once never writes this table (attempt-rows.ts
  // puts the history back together). Rows written by earlier versions may include
  // 'running' and 'ok' attempts; readers treat the job row as newer.
  `CREATE TABLE IF NOT EXISTS attempts (
     job_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     lease_id TEXT NOT NULL,
     agent_id TEXT NOT NULL,
     leased_at INTEGER NOT NULL,
     ended_at INTEGER,
     outcome TEXT NOT NULL,                    -- running | ok | error | expired | rejected | cancelled | released
     error TEXT,
     rejected TEXT,
     agent_held INTEGER NOT NULL,
     PRIMARY KEY (job_id, attempt)
   )`,
  `CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
  // A large batch's jobs beyond its first chunk, until a claim (or a view) needs
  // their rows (staged.ts): `rows` is the JSON list insertJobs takes, `shared` the
  // JSON of its SharedColumns; `first_seq` is the seq of the chunk's first job.
  `CREATE TABLE IF NOT EXISTS staged (
     batch_id TEXT NOT NULL,
     priority INTEGER NOT NULL,
     first_seq INTEGER NOT NULL,
     n INTEGER NOT NULL,                       -- jobs in the chunk
     shared TEXT NOT NULL,
     rows TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS staged_order ON staged(priority DESC, first_seq)`,
];

export const FUNCTION_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS functions (
     hash TEXT PRIMARY KEY,
     source TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
];

/** Columns added after a table was first created: added in place on objects that predate them. */
export const QUEUE_COLUMNS: Array<[table: string, column: string, declaration: string]> = [
  ["jobs", "signer", "TEXT"], // end-to-end signing: the submitter's public key (x)
  ["jobs", "sig", "TEXT"], //   and their signature over fnHash + input
  ["jobs", "progress", "REAL"], // the running attempt's ctx.progress(): fraction,
  ["jobs", "progress_message", "TEXT"], // message
  ["jobs", "progress_at", "INTEGER"], //   and when it arrived
  ["jobs", "leased_at", "INTEGER"], // the current (or final) attempt: when it was leased
  ["jobs", "lease_held", "INTEGER"], //   and how many leases its agent held with it
];

export function migrate(sql: SqlStorage, statements: string[], columns: typeof QUEUE_COLUMNS = []): void {
  for (const statement of statements) sql.exec(statement);
  for (const [table, column, declaration] of columns) {
    const present = sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`).toArray();
    if (!present.some((c) => c.name === column)) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${declaration}`);
  }
}
