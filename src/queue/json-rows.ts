// Lists handed to SQLite as one JSON parameter read back with json_each, so a
// statement covers any number of rows: per-statement cost, not per-row SQL,
// dominated the object's CPU (tools: bench CPU profile), and one JSON
// parameter stays clear of the 100-parameter cap. Durable Object SQLite caps
// a value at 2 MB, so a long list is cut into several parameters, and a row
// too big to share one goes through its caller's one-row statement.

/** Lists up to this long (a claim, or an agent request's results or leases) are first tried whole. */
const WHOLE_MAX_ROWS = 1_000;

/** UTF-16 units per JSON parameter: at most 1.5 MB of UTF-8 even if each unit took 3 bytes. */
export const JSON_CHUNK_CHARS = 500_000;

/**
 * Runs `bulk` with each JSON array text of `rows` (in order, each under
 * `budget` characters and of at most `maxRows` rows). A row whose JSON alone
 * exceeds the budget goes to `alone` instead, when given.
 */
export function inJsonChunks<T>(rows: readonly T[], bulk: (json: string) => void, alone?: (row: T) => void, budget = JSON_CHUNK_CHARS, maxRows = Infinity): void {
  if (rows.length === 0) return;
  // The usual case, a request's worth of rows within the budget (so is each of them): one
  // stringify for all. A miss costs one stringify more, of at most a request body's size.
  if (rows.length <= Math.min(WHOLE_MAX_ROWS, maxRows)) {
    const whole = JSON.stringify(rows);
    if (whole.length <= budget) return bulk(whole);
  }
  let parts: string[] = [];
  let size = 2;
  const flush = (): void => {
    if (parts.length) bulk(`[${parts.join(",")}]`);
    parts = [];
    size = 2;
  };
  for (const row of rows) {
    const text = JSON.stringify(row);
    if (alone && text.length + 2 > budget) {
      flush();
      alone(row);
      continue;
    }
    if (parts.length && (size + text.length + 1 > budget || parts.length >= maxRows)) flush();
    parts.push(text);
    size += text.length + 1;
  }
  flush();
}

/**
 * The rows of `cursor` as objects keyed by its column names, read as arrays
 * (raw()): workerd builds an array per row at about half the cost of an object
 * (a 12-column row: ~2 against ~3.8 µs, the object made here included ~2.6).
 * For the statements that read a row per job.
 */
export function rowsOf<R extends Record<string, SqlStorageValue>>(cursor: SqlStorageCursor<R>, out: R[] = []): R[] {
  const names = cursor.columnNames;
  for (const values of cursor.raw()) {
    const row: Record<string, SqlStorageValue> = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = values[i]!;
    out.push(row as R);
  }
  return out;
}

/** The rows of a SELECT whose `?` stands for a JSON array of keys, run over as many chunks as the keys need. */
export function selectByJson<R extends Record<string, SqlStorageValue>>(sql: SqlStorage, query: string, keys: readonly string[]): R[] {
  const out: R[] = [];
  inJsonChunks(keys, (json) => {
    rowsOf(sql.exec<R>(query, json), out);
  });
  return out;
}
