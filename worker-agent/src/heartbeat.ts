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
// "At once" means after a window far inside the delivery lease (a fifth of
// it, as the envelope gives it, confirmDelayFor(); `confirmDelayMs` when it
// does not): a task whose result has been acknowledged by then needs no
// confirmation — its lease is over — and envelopes arriving meanwhile share
// one request. Without that window a queue of short tasks costs one more
// request per poll, which measured here halves throughput. Each lease has its
// own window; when one is over, those past half of theirs go along.
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

/** Of the delivery lease, the part a confirmation waits (at most): a fifth, 100 ms to 5 s. */
export function confirmDelayFor(confirmWithinMs: number | undefined, fallbackMs: number): number {
  if (typeof confirmWithinMs !== "number" || !(confirmWithinMs > 0)) return fallbackMs;
  return Math.min(5_000, Math.max(100, Math.floor(confirmWithinMs / 5)));
}

/** An accepted lease not yet confirmed: from when it goes along with another's confirmation, and when it is due itself. */
type Pending = { ripeAt: number; dueAt: number };

export class Heartbeats {
  /** Accepted leases the coordinator has not yet heard about. */
  private readonly unconfirmed = new Map<string, Pending>();
  /** Confirmations an exchange is carrying. */
  private readonly riding = new Set<string>();
  /** When the first outstanding confirmation is due (the least dueAt; may be early after a take). */
  private confirmAt = 0;
  private readonly waits = new Wakeable();
  private settledWaiters: Array<() => void> = [];

  constructor(private readonly opts: HeartbeatOptions) {}

  /**
   * Confirms receipt of these leases without waiting for the next regular
   * heartbeat: after `delayMs` (default `confirmDelayMs`), or sooner along
   * with another lease's confirmation once half of it has passed.
   */
  confirm(leaseIds: string[], delayMs = this.opts.confirmDelayMs): void {
    const now = Date.now();
    const pending = { ripeAt: now + delayMs / 2, dueAt: now + delayMs };
    // The loop sleeps until confirmAt at the latest: woken only when that comes sooner.
    const sooner = this.unconfirmed.size === 0 || pending.dueAt < this.confirmAt;
    if (sooner) this.confirmAt = pending.dueAt;
    for (const id of leaseIds) if (!this.unconfirmed.has(id)) this.unconfirmed.set(id, pending);
    if (sooner) this.waits.wake();
  }

  /**
   * Takes the outstanding confirmations (but those of `except`) for another
   * request to carry, once one is due: those past half of their window go
   * along. Before that, a quick task's result is still likely to make its
   * confirmation moot, and the coordinator reads and writes each confirmed
   * lease once more. End with confirmationsDone().
   */
  takeConfirmations(except: Set<string>): string[] {
    this.dropUnheld();
    const now = Date.now();
    if (this.unconfirmed.size === 0 || now < this.confirmAt) return [];
    const ids = this.ripe(now).filter((id) => !except.has(id)).slice(0, LIMITS.maxItemsPerRequest);
    for (const id of ids) {
      this.unconfirmed.delete(id);
      this.riding.add(id);
    }
    this.recomputeConfirmAt();
    return ids;
  }

  /** The request carrying `ids` ended: answered (`ok`), or failed and they are to be sent again. */
  confirmationsDone(ids: string[], ok: boolean): void {
    for (const id of ids) {
      this.riding.delete(id);
      if (!ok) this.unconfirmed.set(id, { ripeAt: 0, dueAt: 0 });
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
    for (const id of this.unconfirmed.keys()) this.unconfirmed.set(id, { ripeAt: 0, dueAt: 0 });
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
      const confirming = confirmDue ? this.ripe(now) : [];
      const ids = regular ? [...new Set([...confirming, ...this.opts.running()])] : confirming;
      const sent = await this.send(ids);
      // Any heartbeat naming a lease confirms it.
      for (const id of ids) if (sent.has(id)) this.unconfirmed.delete(id);
      this.recomputeConfirmAt();
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

  /** The outstanding leases past half of their window at `now`. */
  private ripe(now: number): string[] {
    const ids: string[] = [];
    for (const [id, p] of this.unconfirmed) if (p.ripeAt <= now) ids.push(id);
    return ids;
  }

  private recomputeConfirmAt(): void {
    let at = Infinity;
    for (const p of this.unconfirmed.values()) if (p.dueAt < at) at = p.dueAt;
    this.confirmAt = at === Infinity ? 0 : at;
  }

  private dropUnheld(): void {
    for (const id of this.unconfirmed.keys()) if (!this.opts.holds(id)) this.unconfirmed.delete(id);
    this.notifySettled();
  }

  private notifySettled(): void {
    if (this.unconfirmed.size + this.riding.size > 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const wake of waiters) wake();
  }
}
