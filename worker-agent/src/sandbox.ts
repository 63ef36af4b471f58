// The sandbox pool: up to `size` child processes (sandbox-child.js), each
// under Node's permission model with an empty environment, a heap limit and
// a resident-memory watch; inside it every function runs in its own vm realm
// (sandbox-realm.ts). Children are forked when there is work and killed after
// `idleMs` without any, so an idle agent holds no child (but `warm` ones).
//
// Tasks wait here in one queue and go to the least loaded child that may take
// them; the pool flushes what it assigned once per turn of the event loop, as
// one message per child. A child holds several tasks only when there is more
// work than idle children and every function it holds is known to be quick
// (sandbox-pace.ts), so nothing long waits behind a task that runs away. Per
// child, the protocol, time limits and kills live in sandbox-slot.ts.

import type { Task } from "../../src/protocol/client.js";
import type { CancelSignal } from "./cancel.js";
import { AgentError } from "./errors.js";
import { abortCode, abortOutcome, crashed, type RunOutcome } from "./sandbox-outcome.js";
import { Pace } from "./sandbox-pace.js";
import type { Job, OnProgress, SlotHost } from "./sandbox-job.js";
import { Slot } from "./sandbox-slot.js";
import { toTaskError } from "./sandbox-wire.js";

export { sandboxExecArgv, sandboxFork } from "./sandbox-fork.js";
export type { OnProgress, RunOutcome };

export interface SandboxOptions {
  /** Absolute path of the built sandbox-child.js. */
  childPath: string;
  size: number;
  /** Heap limit of each child (--max-old-space-size). */
  maxMemoryMb: number;
  /** Resident-memory limit of a child running tasks, heap and all; default maxMemoryMb + 256. */
  maxRssMb?: number;
  /** Scheduling niceness of the children (0-19; default 0, the agent's own). */
  nice?: number;
  /** Lets tasks use fetch (the volunteer's --allow-net); otherwise the children have no network. */
  allowNet?: boolean;
  /** How long a child gets to stop after an abort before it is killed. */
  abortGraceMs?: number;
  /** How long a child gets to acknowledge a batch before it is deemed wedged, replaced, and the batch sent again. */
  startTimeoutMs?: number;
  /** A child that has compiled this many distinct functions is replaced (module caches only grow). */
  maxFunctionsPerChild?: number;
  /** A child with nothing to do for this long is killed (default 30 s). */
  idleMs?: number;
  /** Children kept forked even when idle (default 0). */
  warm?: number;
}

export interface SandboxStats {
  /** Children alive now (starting or ready). */
  children: number;
  /** Children forked since the pool was made. */
  forked: number;
  /** IPC messages sent to children, and received from them. */
  messagesSent: number;
  messagesReceived: number;
  /** Batch messages sent (each carries one or more tasks). */
  batches: number;
  /** Tasks run() was given. */
  tasks: number;
}

const DEFAULTS = { abortGraceMs: 500, startTimeoutMs: 2_000, maxFunctionsPerChild: 256, idleMs: 30_000, warm: 0 } as const;
/** Children in a row that fail to start before the waiting tasks are failed instead of retried. */
const MAX_START_FAILURES = 3;

export class SandboxPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  /** How each job's run() promise is settled (once, through finish()). */
  private readonly resolvers = new Map<Job, (outcome: RunOutcome) => void>();
  private readonly pace = new Pace();
  private readonly host: SlotHost;
  private readonly counters = { forked: 0, messagesSent: 0, messagesReceived: 0, batches: 0, tasks: 0 };
  private readonly idleMs: number;
  private readonly warm: number;
  private readonly maxFunctions: number;
  private nextId = 1;
  private closed = false;
  private flushScheduled = false;
  private startFailures = 0;

  constructor(private readonly opts: SandboxOptions) {
    this.idleMs = opts.idleMs ?? DEFAULTS.idleMs;
    this.warm = Math.min(opts.size, opts.warm ?? DEFAULTS.warm);
    this.maxFunctions = opts.maxFunctionsPerChild ?? DEFAULTS.maxFunctionsPerChild;
    const pool = this;
    this.host = {
      childPath: opts.childPath,
      maxMemoryMb: opts.maxMemoryMb,
      maxRssMb: opts.maxRssMb ?? opts.maxMemoryMb + 256,
      allowNet: opts.allowNet ?? false,
      nice: opts.nice ?? 0,
      abortGraceMs: opts.abortGraceMs ?? DEFAULTS.abortGraceMs,
      startTimeoutMs: opts.startTimeoutMs ?? DEFAULTS.startTimeoutMs,
      counters: this.counters,
      finish: (job, outcome) => pool.finish(job, outcome),
      requeue: (jobs) => pool.requeue(jobs),
      record: (fnHash, ms) => pool.pace.record(fnHash, ms),
      batchSize: (job) => pool.batchSize(job),
      forget: (fnHash) => pool.pace.forget(fnHash),
      flushSoon: () => pool.flushSoon(),
      changed: (slot) => pool.changed(slot),
    };
  }

  /** Checks that a child starts (forks one, or `warm` ones, and waits until each says it is ready). */
  async start(): Promise<void> {
    const first = Array.from({ length: Math.max(1, this.warm) }, () => this.spawn());
    try {
      await Promise.all(first.map((s) => s.ready));
    } catch (err) {
      await this.close();
      throw new AgentError("sandbox_unavailable", (err as Error).message);
    }
    // With no warm children, the one that proved a child can start goes at once: an idle
    // agent holds no child (the first task pays a fork, ~70 ms), unless work came meanwhile.
    for (const slot of first.slice(this.warm)) if (slot.load === 0 && this.slots.length > this.warm) slot.retire();
  }

  stats(): SandboxStats {
    return { children: this.slots.length, ...this.counters };
  }

  /**
   * Runs one task to an outcome; never throws for anything the task does.
   * `signal` cancels it (code `cancelled`, or the AgentError code given as
   * the abort reason); the task's own `timeoutMs` times it out (code `timeout`).
   */
  async run(task: Task, source: string, signal?: CancelSignal, onProgress?: OnProgress): Promise<RunOutcome> {
    if (this.closed) throw new AgentError("sandbox_closed", "the sandbox pool is closed");
    if (signal?.aborted) return abortOutcome(abortCode(signal), "the task was cancelled before it started");
    let inputJson: string;
    try {
      inputJson = JSON.stringify(task.input ?? null);
    } catch (err) {
      return { ok: false, error: toTaskError(err, "sandbox_crashed") };
    }
    this.counters.tasks++;
    return new Promise<RunOutcome>((resolve) => {
      const job: Job = {
        id: this.nextId++, task, source, inputJson, onProgress,
        settled: false, aborted: null, timedOut: false, stopAskedAt: 0, solo: false, unacked: 0, needSource: false, withSource: false, acked: false, startedAt: 0, slot: null,
      };
      const onAbort = (): void => this.abort(job, abortCode(signal!), signal!.reason instanceof AgentError ? signal!.reason.message : "the task was cancelled");
      signal?.addEventListener("abort", onAbort, { once: true });
      this.resolvers.set(job, (outcome) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(outcome);
      });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Stops every child. Tasks still queued or running end as crashed; callers drain first. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.finish(job, crashed("the sandbox pool closed"));
    await Promise.all(this.slots.map((slot) => slot.close()));
  }

  private finish(job: Job, outcome: RunOutcome): void {
    if (job.settled) return;
    job.settled = true;
    const resolve = this.resolvers.get(job);
    this.resolvers.delete(job);
    resolve?.(outcome);
  }

  private abort(job: Job, code: string, message: string): void {
    if (job.settled) return;
    if (job.slot) return job.slot.abort(job, code, message);
    const at = this.queue.indexOf(job);
    if (at !== -1) this.queue.splice(at, 1);
    this.finish(job, abortOutcome(code, message));
  }

  private requeue(jobs: Job[]): void {
    for (const job of jobs) {
      job.slot = null;
      job.acked = false;
      job.startedAt = 0;
      job.timedOut = false;
      job.needSource = false;
    }
    this.queue.unshift(...jobs);
  }

  /** How many tasks a child holding `job` may hold at once. */
  private readonly batchSize = (job: Job): number => (job.solo ? 1 : this.pace.batchSize(job.task.fnHash));

  /**
   * A busy child is topped up only once it is down to half of what it may
   * hold, and then filled: with a backlog, a child that answers a few results
   * at a time would otherwise get a few tasks at a time, one channel write
   * each way per handful (bench, at 64 tasks a child: ~24 tasks a batch before,
   * ~60 with this, ~115 at 128; the agent's and the sandbox's CPU per job ~5 µs
   * less each, 5 alternated pairs).
   */
  private canTake(slot: Slot, job: Job): boolean {
    if (slot.state !== "ready" || slot.fnHashes.size >= this.maxFunctions) return false;
    if (slot.load === 0) return true;
    const cap = Math.min(slot.capacity, this.batchSize(job));
    return !job.solo && slot.load < cap && (slot.refilling || slot.load <= cap / 2);
  }

  /** Hands queued tasks, first come first served, to the least loaded child that may take them; forks children as needed. */
  private dispatch(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      const job = this.queue[0]!;
      let best: Slot | null = null;
      for (const slot of this.slots) if (this.canTake(slot, job) && (!best || slot.load < best.load)) best = slot;
      if (!best || best.load > 0) {
        // No idle child: fork another while the pool has room and the queue outnumbers the children starting.
        let starting = 0;
        for (const slot of this.slots) if (slot.state === "starting") starting++;
        if (this.slots.length < this.opts.size && starting < this.queue.length) {
          this.spawn();
          continue;
        }
      }
      if (!best) return;
      this.queue.shift();
      best.assign(job);
      this.flushSoon();
    }
  }

  /**
   * One flush for the tasks assigned together: every task assigned before
   * this microtask runs goes in one message per child (an envelope's tasks
   * are assigned in one synchronous loop; the tasks a result message frees
   * room for, in its handler). A microtask rather than a nextTick, which
   * would wait for every promise job queued meanwhile, such as the agent's
   * next exchange being written to its socket (~0.3 ms on an idle agent's
   * round trip).
   */
  private flushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      for (const slot of this.slots) slot.flush();
    });
  }

  private spawn(): Slot {
    const slot = new Slot(this.host);
    this.slots.push(slot);
    slot.ready.then(
      () => {
        this.startFailures = 0;
        this.changed(slot);
      },
      (err: Error) => {
        if (++this.startFailures < MAX_START_FAILURES || this.closed) return;
        this.startFailures = 0;
        for (const job of this.queue.splice(0)) this.finish(job, crashed(err.message));
      },
    );
    return slot;
  }

  /** After a slot's load went down, it became ready, or it died: reap, replace, dispatch. */
  private changed(slot: Slot): void {
    if (slot.state === "dead") {
      const at = this.slots.indexOf(slot);
      if (at !== -1) this.slots.splice(at, 1);
      while (!this.closed && this.slots.length < this.warm) this.spawn();
    } else if (slot.load === 0 && slot.state === "ready") {
      // Module caches only grow: a child that has compiled many functions is replaced once it is idle.
      if (slot.fnHashes.size >= this.maxFunctions) return slot.retire();
      if (!slot.idleSince) slot.idleSince = Date.now();
      // One timer per idle spell, not one per task: it checks when it fires whether the child stayed idle.
      slot.idleTimer ??= setTimeout(() => this.reap(slot), this.idleMs).unref();
    }
    this.dispatch();
  }

  private reap(slot: Slot): void {
    slot.idleTimer = undefined;
    if (this.closed || slot.state !== "ready") return;
    if (slot.load > 0 || !slot.idleSince) return; // busy again: a later idle spell arms a new timer
    const left = slot.idleSince + this.idleMs - Date.now();
    if (left > 0) slot.idleTimer = setTimeout(() => this.reap(slot), left).unref();
    else if (this.slots.length > this.warm) slot.retire();
  }
}
