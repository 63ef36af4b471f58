// One sandbox child as the pool sees it: the tasks it holds (queued in the
// pool's outbox until the next flush, then in flight in the child, in the
// order the child runs them), the batch acknowledgements it owes, and the
// timers that stop it: the running task's time limit, the grace after an
// abort, the resident-memory watch, the wedge check. The pool (sandbox.ts)
// decides which tasks a slot gets; the slot carries them out and says how
// each ended.
//
// The child reports outcomes coalesced, so the slot never knows for sure
// which task is running: it counts the first unreported task (the head) as
// started when it learns the one before it ended, which is never earlier than
// the child started it. When a child must be killed while it holds one
// started task, that task is the cause and gets the outcome it always got;
// when it holds several, the cause is unknown, so they all run again, each
// alone, where the cause shows itself exactly.

import { fork, type ChildProcess } from "node:child_process";
import { lowerPriority, sandboxFork } from "./sandbox-fork.js";
import type { Job, SlotHost } from "./sandbox-job.js";
import { residentMb } from "./sandbox-memory.js";
import { abortOutcome, crashed, exitOutcome, memoryOutcome, valueOutcome, type RunOutcome } from "./sandbox-outcome.js";
import { toTaskError, type ChildMessage, type Done, type ParentMessage, type RunItem } from "./sandbox-wire.js";

type Cause =
  | { kind: "deadline" | "abort" | "wedged" | "closed" | "retired" }
  | { kind: "memory"; mb: number }
  | { kind: "exit"; code: number | null; sig: NodeJS.Signals | null };

export class Slot {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  state: "starting" | "ready" | "dead" = "starting";
  readonly fnHashes = new Set<string>();
  idleTimer: NodeJS.Timeout | undefined;
  private readonly outbox: Job[] = [];
  private readonly inflight: Job[] = [];
  private readonly unacked = new Map<number, { jobs: Job[]; timer: NodeJS.Timeout }>();
  private seq = 0;
  /** The least batchSize() of the jobs held, as of the last change (recomputed once per message, not per job). */
  private cap = Infinity;
  private headTimer: NodeJS.Timeout | undefined;
  private memoryTimer: NodeJS.Timeout | undefined;
  /** When the slot last ran out of work (0 while it has some). */
  idleSince = 0;
  private onReady: { resolve: () => void; reject: (err: Error) => void } | null = null;

  constructor(private readonly host: SlotHost) {
    const { args, options } = sandboxFork(host.childPath, host);
    this.child = fork(host.childPath, args, options);
    if (host.nice > 0 && this.child.pid !== undefined) lowerPriority(this.child.pid, host.nice);
    host.counters.forked++;
    // A send to a child that just died reports through 'exit'; keep 'error' from throwing.
    this.child.on("error", () => {});
    this.ready = new Promise((resolve, reject) => (this.onReady = { resolve, reject }));
    this.ready.catch(() => {});
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    this.child.on("message", (msg: ChildMessage) => this.onMessage(msg));
    this.child.once("exit", (code, sig) => this.end({ kind: "exit", code, sig }));
  }

  /** Tasks given to this child and not yet reported back. */
  get load(): number {
    return this.outbox.length + this.inflight.length;
  }

  /** Tasks are being assigned to it for the next flush. */
  get refilling(): boolean {
    return this.outbox.length > 0;
  }

  /** How many tasks it may hold, given the ones it holds: the least any of them allows. */
  get capacity(): number {
    return this.cap;
  }

  assign(job: Job): void {
    job.slot = this;
    this.idleSince = 0;
    this.outbox.push(job);
    this.cap = Math.min(this.cap, this.host.batchSize(job));
  }

  private recomputeCap(): void {
    let cap = Infinity;
    for (const job of this.outbox) cap = Math.min(cap, this.host.batchSize(job));
    for (const job of this.inflight) cap = Math.min(cap, this.host.batchSize(job));
    this.cap = cap;
  }

  /** Sends everything assigned since the last flush as one batch message. */
  flush(): void {
    if (this.state !== "ready" || this.outbox.length === 0) return;
    const jobs = this.outbox.splice(0);
    const tasks = jobs.map((job): RunItem => {
      const { task } = job;
      const known = this.fnHashes.has(task.fnHash) && !job.needSource;
      this.fnHashes.add(task.fnHash);
      job.needSource = false;
      job.withSource = !known;
      return { id: job.id, fnHash: task.fnHash, source: known ? undefined : job.source, inputJson: job.inputJson, jobId: task.jobId, attempt: task.attempt };
    });
    this.inflight.push(...jobs);
    const seq = ++this.seq;
    this.unacked.set(seq, { jobs, timer: setTimeout(() => this.ackOverdue(seq), this.host.startTimeoutMs) });
    this.watchMemory();
    this.host.counters.batches++;
    const lazyAck = jobs.every((j) => j.unacked === 0 && !j.solo);
    this.send(lazyAck ? { type: "batch", seq, tasks, lazyAck } : { type: "batch", seq, tasks });
  }

  /** Cancels `job` (which this slot holds): dropped if not sent, else the child is told and, if it must, killed. */
  abort(job: Job, code: string, message: string): void {
    const queued = this.outbox.indexOf(job);
    if (queued !== -1) {
      this.outbox.splice(queued, 1);
      this.recomputeCap();
      this.host.finish(job, abortOutcome(code, message));
      this.host.changed(this);
      return;
    }
    job.aborted = { code, message };
    job.stopAskedAt = Date.now();
    this.send({ type: "abort", id: job.id, reason: code === "timeout" ? "timeout" : "cancelled" });
    // Queued behind another task it is not running now, or barely: it ends cancelled whatever the child does.
    if (this.inflight[0] !== job) this.host.finish(job, abortOutcome(code, message));
    this.advance();
  }

  /** Kills an idle child (reaped, or replaced after too many functions). */
  retire(): void {
    this.end({ kind: "retired" });
  }

  async close(): Promise<void> {
    this.end({ kind: "closed" });
    await this.exited;
  }

  private send(msg: ParentMessage): void {
    this.host.counters.messagesSent++;
    this.child.send(msg, () => {});
  }

  private onMessage(msg: ChildMessage): void {
    this.host.counters.messagesReceived++;
    if (this.state === "dead" || typeof msg !== "object" || msg === null) return;
    if (msg.type === "ready") {
      this.state = "ready";
      this.onReady?.resolve();
      return;
    }
    if (msg.type === "progress") return this.progress(msg);
    if (msg.type !== "done") return;
    if (msg.ack !== undefined) {
      const batch = this.unacked.get(msg.ack);
      this.unacked.delete(msg.ack);
      clearTimeout(batch?.timer);
      for (const job of batch?.jobs ?? []) job.acked = true;
    }
    if (Array.isArray(msg.results)) for (const done of msg.results) this.settle(done);
    this.recomputeCap();
    this.advance();
    this.host.changed(this);
  }

  private progress(msg: Extract<ChildMessage, { type: "progress" }>): void {
    const job = this.inflight.find((j) => j.id === msg.id);
    const { fraction, message } = msg;
    if (!job || job.settled || job.aborted || job.timedOut) return;
    if (typeof fraction === "number" && fraction >= 0 && fraction <= 1 && (message === undefined || typeof message === "string")) {
      job.onProgress?.(fraction, message?.slice(0, 200));
    }
  }

  private settle(done: Done): void {
    const at = this.inflight.findIndex((j) => j.id === done.id);
    if (at === -1) return;
    const [job] = this.inflight.splice(at, 1) as [Job];
    const { host } = this;
    if ("status" in done) {
      if (done.status === "need_source" && !job.settled) {
        // The child dropped the function's realm: send the task again, with the source.
        job.needSource = true;
        job.acked = false;
        job.startedAt = 0;
        this.outbox.unshift(job);
        host.flushSoon();
        return;
      }
      return host.finish(job, abortOutcome(job.aborted?.code ?? "cancelled", job.aborted?.message ?? "the task was cancelled"));
    }
    // Paced by runs alone: a first run's compile time would make a quick function look slow.
    if (!job.withSource) host.record(job.task.fnHash, done.ms);
    if (job.aborted) return host.finish(job, abortOutcome(job.aborted.code, job.aborted.message));
    // Asked to stop at the limit as the pool counts it, yet done within it as the child counts it: the result stands.
    if (job.timedOut && !(done.ms <= job.task.timeoutMs)) return host.finish(job, this.timeoutOutcome(job));
    host.finish(job, done.ok ? valueOutcome(done.json) : { ok: false, error: toTaskError(done.error, done.error?.code) });
  }

  private timeoutOutcome(job: Job): RunOutcome {
    return abortOutcome("timeout", `the task ran longer than ${job.task.timeoutMs} ms`);
  }

  /** (Re)arms the head's timer: its time limit, or the grace left after it was asked to stop. */
  private advance(): void {
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
    const head = this.inflight[0];
    if (!head || !head.acked || this.state !== "ready") return;
    const now = Date.now();
    if (!head.startedAt) head.startedAt = now;
    if (head.aborted || head.timedOut) {
      const graceEnd = Math.max(head.stopAskedAt, head.startedAt) + this.host.abortGraceMs;
      // A task that ignores its signal (or spins in a loop) is stopped the hard way.
      this.headTimer = setTimeout(() => this.end({ kind: head.timedOut ? "deadline" : "abort" }), graceEnd - now);
      return;
    }
    this.headTimer = setTimeout(() => {
      head.timedOut = true;
      head.stopAskedAt = Date.now();
      this.send({ type: "abort", id: head.id, reason: "timeout" });
      this.advance();
    }, head.startedAt + head.task.timeoutMs - now);
  }

  private ackOverdue(seq: number): void {
    const batch = this.unacked.get(seq);
    if (!batch) return;
    // Busy with a task sent earlier (its own time limit covers it): not wedged, just not reading yet.
    if (this.inflight.some((j) => j.acked)) {
      batch.timer = setTimeout(() => this.ackOverdue(seq), this.host.startTimeoutMs);
      return;
    }
    // Something an earlier task left running keeps the child from reading its messages.
    this.end({ kind: "wedged" });
  }

  /**
   * Reads the child's resident memory every 100 ms while it has work and kills
   * it past maxRssMb (the heap limit does not cover ArrayBuffers and the like).
   * One interval for the child's life, idle turns skipped: cheaper than one per task.
   */
  private watchMemory(): void {
    const { pid } = this.child;
    if (this.memoryTimer || pid === undefined) return;
    this.memoryTimer = setInterval(() => {
      if (this.load === 0) return;
      const mb = residentMb(pid);
      if (mb === null) clearInterval(this.memoryTimer);
      else if (mb > this.host.maxRssMb) this.end({ kind: "memory", mb });
    }, 100);
    this.memoryTimer.unref();
  }

  /** Kills the child (if alive) and settles or hands back every task it held. */
  private end(cause: Cause): void {
    if (this.state === "dead") return;
    const wasStarting = this.state === "starting";
    this.state = "dead";
    clearTimeout(this.headTimer);
    clearTimeout(this.idleTimer);
    for (const batch of this.unacked.values()) clearTimeout(batch.timer);
    clearInterval(this.memoryTimer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    if (wasStarting) {
      const how = cause.kind === "exit" ? ` (code=${cause.code} signal=${cause.sig})` : "";
      this.onReady?.reject(new Error(`sandbox child exited on start${how}`));
    }
    const { host } = this;
    const again: Job[] = this.outbox.splice(0);
    const held = this.inflight.splice(0);
    const started = held.filter((j) => j.acked);
    for (const job of held) {
      if (job.settled) continue;
      if (job.aborted) {
        host.finish(job, abortOutcome(job.aborted.code, job.aborted.message));
      } else if (cause.kind === "closed") {
        host.finish(job, crashed("the sandbox pool closed"));
      } else if (!job.acked) {
        // Never read by the child: run it elsewhere, but not forever.
        if (++job.unacked >= 2) host.finish(job, crashed("the sandbox did not take the task"));
        else again.push(job);
      } else if (started.length === 1) {
        host.finish(job, this.causeOutcome(job, cause));
      } else {
        job.solo = true;
        host.forget(job.task.fnHash);
        again.push(job);
      }
    }
    for (const job of again) {
      if (cause.kind === "closed") host.finish(job, crashed("the sandbox pool closed"));
    }
    if (cause.kind !== "closed") host.requeue(again.filter((j) => !j.settled));
    host.changed(this);
  }

  /** The outcome of the one started task of a child that died or was killed. */
  private causeOutcome(job: Job, cause: Cause): RunOutcome {
    if (job.aborted) return abortOutcome(job.aborted.code, job.aborted.message);
    if (job.timedOut) return this.timeoutOutcome(job);
    if (cause.kind === "memory") return memoryOutcome(cause.mb, this.host.maxRssMb);
    if (cause.kind === "exit") return exitOutcome(cause.code, cause.sig, this.host.maxMemoryMb);
    return crashed("the sandbox was stopped while running the task");
  }
}
