// Size and range limits of the wire protocol, in one place. They keep every
// stored value well under the Durable Object SQLite caps (2 MB per row or
// value, 100 KB per statement) and the Worker's 128 MB of memory.

export const LIMITS = {
  /** Largest request body the coordinator reads, in bytes. */
  maxBodyBytes: 16 * 1024 * 1024,
  /** Largest function source, in bytes (UTF-8). */
  maxSourceBytes: 1024 * 1024,
  /** Largest single job input, serialized as JSON, in bytes. */
  maxInputBytes: 1024 * 1024,
  /** Largest single result value or error, serialized as JSON, in bytes. */
  maxResultBytes: 1024 * 1024,
  /** Most jobs in one submitted batch. */
  maxBatchSize: 10_000,
  /** Most tasks one poll can ask for. */
  maxSlots: 256,
  /** Longest long-poll, in seconds (platform guidance: stay at or under ~25 s). */
  maxWaitSeconds: 25,
  /** Most results, heartbeats or lease ids in one agent request. */
  maxItemsPerRequest: 1000,
  /** Deepest nesting of arrays and objects accepted in any JSON body (inputs and results included). */
  maxJsonDepth: 64,
  /** Most results one results page returns. */
  maxResultsPage: 1000,
} as const;

export const JOB_DEFAULTS = {
  timeoutMs: 60_000,
  maxAttempts: 3,
  priority: 0,
  /** Added to a task's time limit to form its lease. */
  graceMs: 10_000,
} as const;
