// The tasks an agent holds: from the moment an envelope is accepted until the
// coordinator has acknowledged each task's result. Accepting checks the
// envelope and each lease (verifier.ts), confirms receipt (heartbeat.ts) and
// starts each task (task-run.ts); a refused envelope's tasks are reported as
// rejected. Held tasks are what `concurrency` + prefetch bound.

import type { RejectionCode, Task, TaskResult } from "../../src/protocol/client.js";
import { Cancel } from "./cancel.js";
import type { Changes } from "./changes.js";
import { AgentError } from "./errors.js";
import type { Heartbeats } from "./heartbeat.js";
import type { Logger } from "./log.js";
import type { Prefetch } from "./prefetch.js";
import type { ProgressReports } from "./progress.js";
import type { TaskLog } from "./task-log.js";
import { runTask, type TaskRunContext } from "./task-run.js";
import type { Verifier } from "./verifier.js";

export interface Held {
  task: Task;
  running: boolean;
  cancel: Cancel;
  /** Aborted at shutdown and handed back to the queue: its outcome is not reported. */
  releasing?: boolean;
}

export interface HeldTasksOptions {
  log: Logger;
  taskLog: TaskLog;
  heartbeats: Heartbeats;
  progress: ProgressReports;
  prefetch: Prefetch;
  changes: Changes;
  /** Where a finished (or refused) task's result goes: the results outbox. */
  report: (result: TaskResult, valueBytes: number) => void;
  /** How long to wait before confirming an envelope's tasks, given its delivery lease (heartbeat.ts: confirmDelayFor). */
  confirmDelay: (confirmWithinMs: number | undefined) => number;
  /** What running a task needs; made once the agent has enrolled. */
  runContext: () => TaskRunContext;
}

export class HeldTasks {
  readonly held = new Map<string, Held>();
  /** Held tasks not yet finished (waiting for a sandbox or running). */
  unfinished = 0;

  constructor(private readonly opts: HeldTasksOptions) {}

  get size(): number {
    return this.held.size;
  }

  has(leaseId: string): boolean {
    return this.held.has(leaseId);
  }

  isRunning(leaseId: string): boolean {
    return this.held.get(leaseId)?.running === true;
  }

  runningLeases(): string[] {
    const out: string[] = [];
    for (const [id, h] of this.held) if (h.running) out.push(id);
    return out;
  }

  /** Checks an envelope and starts its tasks; refuses (and reports) what does not pass. */
  async accept(verifier: Verifier, envelope: unknown): Promise<void> {
    const { log } = this.opts;
    const verdict = await verifier.checkEnvelope(envelope);
    if (!verdict.ok) {
      const tasks = verdict.payload?.tasks ?? [];
      log.warn("refused envelope", { code: verdict.code, reason: verdict.reason, tasks: tasks.length });
      for (const task of tasks) this.refuse(task, verdict.code);
      return;
    }
    const accepted: Task[] = [];
    for (const task of verdict.payload.tasks) {
      const replayed = this.held.has(task.leaseId) ? "lease_replayed" : verifier.checkLease(task.leaseId);
      if (replayed) {
        log.warn("refused task", { jobId: task.jobId, code: replayed });
        this.refuse(task, replayed);
      } else {
        this.hold(task, true);
        accepted.push(task);
      }
    }
    // Confirm receipt (independently of fetching the source and running): until then the coordinator holds only a short delivery lease.
    if (accepted.length > 0) this.opts.heartbeats.confirm(accepted.map((t) => t.leaseId), this.opts.confirmDelay(verdict.payload.confirmWithinMs));
    for (const task of accepted) void this.execute(task);
  }

  /** The coordinator answered for these results: their tasks are no longer held. */
  acknowledged(results: TaskResult[]): void {
    for (const r of results) this.held.delete(r.leaseId);
  }

  /** Aborts a running task (cancelled by a submitter, or its lease is no longer this agent's). */
  cancel(leaseId: string): void {
    const held = this.held.get(leaseId);
    if (!held?.running || held.cancel.aborted) return;
    this.opts.log.info("task cancelled", { jobId: held.task.jobId });
    held.cancel.abort(new AgentError("cancelled", "the coordinator cancelled the task"));
  }

  private hold(task: Task, running: boolean): void {
    this.held.set(task.leaseId, { task, running, cancel: new Cancel() });
    if (running) this.unfinished++;
  }

  /** Reports a task as refused — unless this agent holds its lease: a refused copy must not end the real one. */
  private refuse(task: Task, code: RejectionCode): void {
    if (this.held.has(task.leaseId) || task.leaseId.length > 128) return;
    this.hold(task, false);
    this.opts.report({ leaseId: task.leaseId, ok: false, rejected: code }, 0);
  }

  private async execute(task: Task): Promise<void> {
    const { leaseId } = task;
    const { progress, log, changes } = this.opts;
    const held = this.held.get(leaseId)!;
    const started = performance.now();
    const onProgress = (fraction: number, message?: string): void => progress.set(leaseId, fraction, message);
    const { result, bytes } = await runTask(this.opts.runContext(), task, held.cancel, onProgress);
    held.running = false;
    this.unfinished--;
    this.opts.prefetch.done();
    progress.drop(leaseId);
    const ms = Math.round(performance.now() - started);
    if (held.releasing) {
      log.debug("task handed back", { jobId: task.jobId, ms });
      this.held.delete(leaseId);
      changes.notify();
      return;
    }
    this.opts.taskLog.done(result.ok, () => ({ jobId: task.jobId, ms, code: result.error?.code ?? result.rejected }));
    this.opts.report(result, bytes);
  }
}
