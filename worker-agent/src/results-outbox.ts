// Results on their way to the coordinator. Each finished task leaves exactly
// one result here; they go out in batches (as many as fit one request, sent as
// soon as the previous batch is answered), are retried with backoff on
// retryable failures, and are never dropped while the agent runs.
//
// While the coordinator is unreachable results pile up here. The outbox is
// bounded by OUTBOX_LIMITS: once `full`, the agent takes no new work, so it
// can overshoot only by the tasks already running (each result at most
// LIMITS.maxResultBytes) — and it keeps those rather than waste finished work.
//
// The agent's main loop borrows results (lend()) to carry them on its next
// exchange with the coordinator, so a result and the next poll share one
// request. With `lingerMs` set, the outbox sends on its own only results that
// no exchange picked up within that time (one parked in a long-poll, say).

import { LIMITS, type ResultsResponse, type TaskResult } from "../../src/protocol/client.js";
import { retry, Wakeable, type RetryOptions } from "./backoff.js";

/** Results per request are capped by size too, well under the coordinator's 16 MB body limit. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Past either figure the agent stops taking work until results have been delivered. */
export const OUTBOX_LIMITS = { maxResults: 10_000, maxBytes: 64 * 1024 * 1024 } as const;

interface Pending {
  result: TaskResult;
  bytes: number;
}

export interface OutboxOptions {
  /** One POST /v1/agent/results; throws on failure. */
  send: (results: TaskResult[]) => Promise<ResultsResponse | null>;
  /** Its signal ends the retries (the agent is exiting); its onRetry reports a failed try. */
  retry: RetryOptions;
  /** The coordinator answered for these results (accepted or stale): their slots are free. */
  onSent: (results: TaskResult[], answer: ResultsResponse | null) => void;
  /** A non-retryable failure, such as a refused token. */
  onFatal: (err: unknown) => void;
  limits?: { maxResults: number; maxBytes: number };
  /** Wait this long after a result arrives before sending it alone, so an exchange can carry it; 0 sends at once. */
  lingerMs?: number;
}

/** Results lent to another request: exactly one of sent() or failed() ends the loan. */
export interface Lent {
  results: TaskResult[];
  /** The coordinator answered for them (accepted or stale). */
  sent(answer: ResultsResponse | null): void;
  /** The request failed: the results are the outbox's to send again. */
  failed(): void;
}

export class ResultsOutbox {
  private pending: Pending[] = [];
  private lentCount = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private failed = false;
  private bytes = 0;
  private readonly waits = new Wakeable();
  private readonly limits: { maxResults: number; maxBytes: number };

  constructor(private readonly opts: OutboxOptions) {
    this.limits = opts.limits ?? OUTBOX_LIMITS;
  }

  /** Results not yet acknowledged. */
  get size(): number {
    return this.pending.length + this.lentCount;
  }

  /** True at or past the bound: take no new work until results have gone out. */
  get full(): boolean {
    return this.size >= this.limits.maxResults || this.bytes >= this.limits.maxBytes;
  }

  /** Retries now instead of at the end of the current backoff wait (the coordinator answered something else). */
  nudge(): void {
    this.waits.wake();
  }

  /** Resolves when the flush under way (if any) ends. */
  settled(): Promise<void> {
    return this.flushing ?? Promise.resolve();
  }

  /** Queues a result; `valueBytes` is the size of its value as JSON. */
  add(result: TaskResult, valueBytes = 0): void {
    const errorBytes = result.error ? result.error.message.length + (result.error.stack?.length ?? 0) : 0;
    const bytes = 512 + valueBytes + errorBytes;
    this.pending.push({ result, bytes });
    this.bytes += bytes;
    const lingerMs = this.opts.lingerMs ?? 0;
    if (lingerMs === 0) this.flush();
    else this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.flush();
    }, lingerMs);
  }

  /** Whether lend() would lend anything now. */
  get lendable(): boolean {
    return this.pending.length > 0 && !this.flushing && !this.failed;
  }

  /** Lends the oldest pending results that fit one request; null while the outbox is sending on its own. */
  lend(): Lent | null {
    if (!this.lendable) return null;
    const batch = this.nextBatch();
    this.remove(batch);
    this.lentCount += batch.length;
    let open = true;
    return {
      results: batch.map((p) => p.result),
      sent: (answer) => {
        if (!open) return;
        open = false;
        this.lentCount -= batch.length;
        for (const p of batch) this.bytes -= p.bytes;
        this.opts.onSent(batch.map((p) => p.result), answer);
      },
      failed: () => {
        if (!open) return;
        open = false;
        this.lentCount -= batch.length;
        this.pending.unshift(...batch);
        this.flush();
      },
    };
  }

  private remove(batch: Pending[]): void {
    const gone = new Set(batch);
    this.pending = this.pending.filter((p) => !gone.has(p));
  }

  /** Starts sending unless a send is already under way (it picks up new results when it ends). */
  flush(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.flushing || this.pending.length === 0 || this.failed || this.opts.retry.signal.aborted) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
      this.flush();
    });
  }

  /** The oldest pending results that fit one request. */
  private nextBatch(): Pending[] {
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < LIMITS.maxItemsPerRequest) {
      const size = this.pending[n]!.bytes;
      if (n > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    return this.pending.slice(0, n);
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      let batch: Pending[] = [];
      let answer: ResultsResponse | null;
      try {
        answer = await retry(() => {
          batch = this.nextBatch(); // re-taken on each try, so results that arrived meanwhile ride along
          return this.opts.send(batch.map((p) => p.result));
        }, { ...this.opts.retry, pause: this.waits.sleep });
      } catch (err) {
        if (!this.opts.retry.signal.aborted) {
          this.failed = true;
          this.opts.onFatal(err);
        }
        return;
      }
      // lend() cannot take from `pending` while this loop runs, but a failed loan may have put results back at its head.
      this.remove(batch);
      for (const sent of batch) this.bytes -= sent.bytes;
      this.opts.onSent(batch.map((p) => p.result), answer);
    }
  }
}
