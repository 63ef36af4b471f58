// What the pool and its slots share: a task on its way through the pool (a
// Job), and what a slot needs from the pool (SlotHost).

import type { Task } from "../../src/protocol/client.js";
import type { RunOutcome } from "./sandbox-outcome.js";
import type { Slot } from "./sandbox-slot.js";

/** A running task's ctx.progress(), already checked: fraction in 0..1, message at most 200 characters. */
export type OnProgress = (fraction: number, message?: string) => void;

export interface Job {
  readonly id: number;
  readonly task: Task;
  readonly source: string;
  readonly inputJson: string;
  readonly onProgress?: OnProgress;
  /** Has its outcome; may still sit in a child's queue until the child lets go of it. */
  settled: boolean;
  /** Cancelled through its signal: whatever the child answers, this is the outcome. */
  aborted: { code: string; message: string } | null;
  timedOut: boolean;
  /** When it was asked to stop (abort or time limit): the grace runs from then, or from when it became the head. */
  stopAskedAt: number;
  /** Runs alone: it was in a child that died holding several started tasks. */
  solo: boolean;
  /** Sent in a batch the child never acknowledged, this many times. */
  unacked: number;
  needSource: boolean;
  /** Last sent with its source: that run's time includes compiling the function. */
  withSource: boolean;
  acked: boolean;
  /** When the pool counts it as started (0: not yet). */
  startedAt: number;
  slot: Slot | null;
}

export interface SlotHost {
  readonly childPath: string;
  readonly maxMemoryMb: number;
  readonly maxRssMb: number;
  readonly allowNet: boolean;
  readonly nice: number;
  readonly abortGraceMs: number;
  readonly startTimeoutMs: number;
  readonly counters: { forked: number; messagesSent: number; messagesReceived: number; batches: number };
  finish(job: Job, outcome: RunOutcome): void;
  /** Jobs a dead child held that must run again, ahead of the rest. */
  requeue(jobs: Job[]): void;
  record(fnHash: string, ms: number): void;
  /** How many tasks a child holding `job` may hold at once (sandbox-pace.ts). */
  batchSize(job: Job): number;
  forget(fnHash: string): void;
  flushSoon(): void;
  /** The slot's load went down, it became ready, or it died. */
  changed(slot: Slot): void;
}
