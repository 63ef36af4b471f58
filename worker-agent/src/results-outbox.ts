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
// A result is worth a request of its own once it is `ripe`: `batchTarget`
// results are waiting, or no other task is running (nothing more is coming
// soon, so waiting would only add latency), or the oldest has waited
// `lingerMs`. Under load that makes requests carry many results; an idle
// agent's single result still goes at once.
//
// The agent's main loop borrows results (lend()) to carry them on its next
// exchange with the coordinator, so results and the next poll share one
// request. While `carried()` says an exchange will come for them, the outbox
// does not send on its own; while the exchange is parked in a long-poll (or
// the agent does not exchange), it sends ripe results itself.

import { LIMITS, type ResultsResponse, type TaskResult } from "../../src/protocol/client.js";
import { retry, Wakeable, type RetryOptions } from "./backoff.js";

/** Results per request are capped by size too, well under the coordinator's 16 MB body limit. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Past either figure the agent stops taking work until results have been delivered. */
export const OUTBOX_LIMITS = { maxResults: 10_000, maxBytes: 64 * 1024 * 1024 } as const;

interface Pending {
  result: TaskResult;
  bytes: number;
  /** When it was added (Date.now()). */
  at: number;
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
  /** A result waits at most this long for others to share its request; 0 sends every result at once. */
  lingerMs?: number;
  /** Results worth a request of their own now (default 1). */
  batchTarget?: () => number;
  /** Whether other tasks are still running, so more results are coming (default: assume not). */
  othersRunning?: () => boolean;
  /** Whether the agent's exchange will carry pending results (default: never); the outbox then leaves them to it. */
  carried?: () => boolean;
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

  /** Results waiting to be sent or lent (not those out on loan). */
  get pendingCount(): number {
    return this.pending.length;
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
    this.pending.push({ result, bytes, at: Date.now() });
    this.bytes += bytes;
    this.schedule();
  }

  /** Whether the pending results are worth a request now (see the header). */
  get ripe(): boolean {
    return this.msUntilRipe() === 0;
  }

  /** 0 when ripe, Infinity when nothing is pending, else how long until the oldest has lingered enough. */
  msUntilRipe(): number {
    const oldest = this.pending[0];
    if (!oldest) return Infinity;
    if (this.pending.length >= (this.opts.batchTarget?.() ?? 1) || !(this.opts.othersRunning?.() ?? false)) return 0;
    return Math.max(0, oldest.at + (this.opts.lingerMs ?? 0) - Date.now());
  }

  /**
   * Sends ripe results unless an exchange will carry them; otherwise looks
   * again when they ripen. Call it when `carried()` turns false.
   */
  schedule(): void {
    if (this.pending.length === 0) return;
    const carried = this.opts.carried?.() ?? false;
    const wait = carried ? Infinity : this.msUntilRipe();
    if (wait === 0) return this.flush();
    // While carried, look again now and then: the exchange may stop carrying (parked, coordinator away).
    if (this.lingerTimer) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.schedule();
    }, carried ? Math.max(1, this.opts.lingerMs ?? 0) : wait);
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
        this.schedule();
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
      this.schedule();
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
