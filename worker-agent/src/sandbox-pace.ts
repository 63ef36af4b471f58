// How many tasks a child may hold queued: pacing by each function's measured
// run time. A child gets several tasks at once only for a function known to
// be quick, so that at most about BATCH_BUDGET_MS of work waits behind any
// task; a function never seen to complete (a runaway, a first run) goes alone.

/** Work (by moving average) a child may hold queued behind a running task. */
export const BATCH_BUDGET_MS = 10;
export const MAX_BATCH = 128;
/** Functions remembered; the oldest entry is forgotten first. */
const MAX_FUNCTIONS = 4096;
/** Weight of the newest sample in the moving average. */
const ALPHA = 0.2;

/** Tasks of a function averaging `avgMs` a child may hold at once. */
export function batchSize(avgMs: number | undefined): number {
  if (avgMs === undefined) return 1;
  if (!(avgMs > 0)) return MAX_BATCH;
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_BUDGET_MS / avgMs)));
}

export class Pace {
  private readonly avg = new Map<string, number>();

  /** A run of `fnHash` completed in `ms` (the child's own measure). */
  record(fnHash: string, ms: number): void {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return;
    const prev = this.avg.get(fnHash);
    this.avg.delete(fnHash);
    this.avg.set(fnHash, prev === undefined ? ms : prev + ALPHA * (ms - prev));
    if (this.avg.size > MAX_FUNCTIONS) this.avg.delete(this.avg.keys().next().value!);
  }

  /** A child running `fnHash` among others was killed: it goes alone again until seen to complete. */
  forget(fnHash: string): void {
    this.avg.delete(fnHash);
  }

  batchSize(fnHash: string): number {
    return batchSize(this.avg.get(fnHash));
  }
}
