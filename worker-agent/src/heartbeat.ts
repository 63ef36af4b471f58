// Heartbeats. Every `intervalMs` while tasks run, the agent tells the
// coordinator which leases it is still working on: that keeps long tasks'
// leases alive, and the answer names leases that were cancelled or went
// stale, so the agent can abort them instead of finishing work nobody wants.
//
// A task handed out by a poll holds only a short delivery lease until the
// agent confirms it has the task; the first heartbeat naming a lease is that
// confirmation. So once an envelope is accepted, confirm() sends one
// heartbeat for its tasks (coalescing with a regular heartbeat that is nearly
// due) and retries it with backoff until the coordinator has answered: an
// unconfirmed task comes back to the queue within seconds, and the agent
// would then be running it for nothing.
//
// "At once" means after `confirmDelayMs` (a fraction of a second, far inside
// the delivery lease): a task whose result has been acknowledged by then needs
// no confirmation — its lease is over — and envelopes arriving meanwhile share
// one request. Without that window a queue of short tasks costs one more
// request per poll, which measured here halves throughput.
//
// The agent's exchange (poll-loop.ts) may take confirmations that are due to
// carry them itself (takeConfirmations); they count as outstanding until it
// reports back.
// Each heartbeat also carries the latest ctx.progress() of running tasks.

import { LIMITS, type HeartbeatResponse, type TaskProgress } from "../../src/protocol/client.js";
import { backoffDelay, sleep, Wakeable } from "./backoff.js";

export interface HeartbeatOptions {
  intervalMs: number;
  /** How long a confirmation waits for others to share its request (and for short tasks to finish). */
  confirmDelayMs: number;
  /** Ends the loop. */
  signal: AbortSignal;
  /** Leases of the tasks running now. */
  running: () => string[];
  /** Whether the agent still holds a lease (its result not yet acknowledged); confirmations of others are dropped. */
  holds: (leaseId: string) => boolean;
  /** Progress not yet sent, taken (the agent forgets it); given back when the request fails. */
  takeProgress?: () => TaskProgress[];
  returnProgress?: (progress: TaskProgress[]) => void;
  /** One POST /v1/agent/heartbeat; throws on failure. */
  send: (leaseIds: string[], progress: TaskProgress[]) => Promise<HeartbeatResponse | null>;
  /** Leases to abort: cancelled by a submitter, or no longer this agent's. */
  onAbort: (leaseId: string) => void;
  onAnswer: () => void;
  /**
   * A failed heartbeat. A regular one is not retried (the next follows in
   * `intervalMs`); one carrying confirmations is retried with backoff.
   */
  onError: (err: unknown) => void;
}

export class Heartbeats {
  /** Accepted leases the coordinator has not yet heard about. */
  private readonly unconfirmed = new Set<string>();
  /** Confirmations an exchange is carrying. */
  private readonly riding = new Set<string>();
  /** When the outstanding confirmations are to be sent. */
  private confirmAt = 0;
  private readonly waits = new Wakeable();
  private settledWaiters: Array<() => void> = [];

  constructor(private readonly opts: HeartbeatOptions) {}

  /** Confirms receipt of these leases as soon as possible, without waiting for the next regular heartbeat. */
  confirm(leaseIds: string[]): void {
    if (this.unconfirmed.size === 0) this.confirmAt = Date.now() + this.opts.confirmDelayMs;
    for (const id of leaseIds) this.unconfirmed.add(id);
    this.waits.wake();
  }

  /**
   * Takes the outstanding confirmations (but those of `except`) for another
   * request to carry, once they are due (`confirmDelayMs` after the oldest
   * came): before that, a quick task's result is still likely to make its
   * confirmation moot, and the coordinator reads and writes each confirmed
   * lease once more. End with confirmationsDone().
   */
  takeConfirmations(except: Set<string>): string[] {
    this.dropUnheld();
    if (this.unconfirmed.size === 0 || Date.now() < this.confirmAt) return [];
    const ids = [...this.unconfirmed].filter((id) => !except.has(id)).slice(0, LIMITS.maxItemsPerRequest);
    for (const id of ids) {
      this.unconfirmed.delete(id);
      this.riding.add(id);
    }
    return ids;
  }

  /** The request carrying `ids` ended: answered (`ok`), or failed and they are to be sent again. */
  confirmationsDone(ids: string[], ok: boolean): void {
    for (const id of ids) {
      this.riding.delete(id);
      if (!ok) this.unconfirmed.add(id);
    }
    if (!ok) {
      this.confirmAt = 0;
      this.waits.wake();
    }
    this.notifySettled();
  }

  /** Sends outstanding confirmations now; resolves true once none is left, or false after `ms`. */
  async confirmed(ms: number): Promise<boolean> {
    this.dropUnheld();
    if (this.unconfirmed.size + this.riding.size === 0) return true;
    this.confirmAt = 0;
    this.waits.wake();
    let wake!: () => void;
    const settled = new Promise<void>((resolve) => (wake = resolve));
    this.settledWaiters.push(wake);
    const timer = new AbortController();
    await Promise.race([settled, sleep(ms, timer.signal)]);
    timer.abort();
    this.settledWaiters = this.settledWaiters.filter((w) => w !== wake);
    return this.unconfirmed.size + this.riding.size === 0;
  }

  /** Runs until `signal` aborts. */
  async run(): Promise<void> {
    const { intervalMs, signal } = this.opts;
    let nextBeat = Date.now() + intervalMs;
    let retryAt = 0;
    let failures = 0;
    while (!signal.aborted) {
      this.dropUnheld();
      const now = Date.now();
      const confirmBy = Math.max(this.confirmAt, retryAt);
      const confirmDue = this.unconfirmed.size > 0 && now >= confirmBy;
      if (!confirmDue && now < nextBeat) {
        const until = this.unconfirmed.size > 0 ? Math.min(nextBeat, confirmBy) : nextBeat;
        await this.waits.sleep(until - now, signal);
        continue;
      }
      // A confirmation carries the regular heartbeat along when that is due within half an interval.
      const regular = now >= nextBeat - intervalMs / 2;
      if (regular) nextBeat = now + intervalMs;
      const confirming = [...this.unconfirmed];
      const ids = regular ? [...new Set([...confirming, ...this.opts.running()])] : confirming;
      const sent = await this.send(ids);
      for (const id of confirming) if (sent.has(id)) this.unconfirmed.delete(id);
      if (this.unconfirmed.size > 0 && confirming.some((id) => !sent.has(id))) {
        retryAt = Date.now() + backoffDelay(failures++);
      } else {
        failures = 0;
        retryAt = 0;
      }
      this.notifySettled();
    }
  }

  /** Sends `ids` in requests of at most the protocol's batch size; returns the ids the coordinator answered for. */
  private async send(ids: string[]): Promise<Set<string>> {
    const sent = new Set<string>();
    const { signal } = this.opts;
    for (let i = 0; i < ids.length && !signal.aborted; i += LIMITS.maxItemsPerRequest) {
      const chunk = ids.slice(i, i + LIMITS.maxItemsPerRequest);
      const progress = i === 0 ? (this.opts.takeProgress?.() ?? []) : [];
      try {
        const answer = await this.opts.send(chunk, progress);
        for (const id of chunk) sent.add(id);
        this.opts.onAnswer();
        for (const id of [...(answer?.cancelled ?? []), ...(answer?.stale ?? [])]) this.opts.onAbort(id);
      } catch (err) {
        this.opts.returnProgress?.(progress);
        if (!signal.aborted) this.opts.onError(err);
      }
    }
    return sent;
  }

  private dropUnheld(): void {
    for (const id of this.unconfirmed) if (!this.opts.holds(id)) this.unconfirmed.delete(id);
    this.notifySettled();
  }

  private notifySettled(): void {
    if (this.unconfirmed.size + this.riding.size > 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const wake of waiters) wake();
  }
}
