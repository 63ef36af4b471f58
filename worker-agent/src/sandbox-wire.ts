// The IPC messages between the sandbox pool (parent) and a sandbox child, and
// the error shape both sides clamp to the protocol's TaskError limits. Imported
// by both, so the two ends of the channel cannot drift.

import type { TaskError } from "../../src/protocol/client.js";

/** One task of a batch. `source` is left out when the child already compiled `fnHash`. */
export interface RunItem {
  id: number;
  fnHash: string;
  source?: string;
  /** The input as JSON text: the child parses it inside the task's realm. */
  inputJson: string;
  jobId: string;
  attempt: number;
}

/**
 * Parent → child: tasks to queue, run one at a time in this order. Several
 * tasks share one message only when the pool has backlog and their function
 * is known to be quick (sandbox-pace.ts): one channel write for many tasks.
 */
export interface BatchMessage {
  type: "batch";
  /** Acknowledged by the child as soon as it reads the message. */
  seq: number;
  tasks: RunItem[];
  /**
   * The child may hold the acknowledgement back until the first outcome if it
   * knows the first task's function to be quick (sandbox-child.ts). Left out
   * for tasks sent before that went unacknowledged or that must run alone.
   */
  lazyAck?: true;
}

/** Parent → child: abort run `id` (its ctx.signal fires with this reason), or drop it if it has not started. */
export interface AbortMessage {
  type: "abort";
  id: number;
  reason: "timeout" | "cancelled";
}

export type ParentMessage = BatchMessage | AbortMessage;

/**
 * How one queued task ended in the child. `ms` is the child's own measure of
 * the run, compiling included: the pool paces batches by it, and lets a
 * result stand that reached it after the deadline but was within it as
 * measured here. `json` is the value's JSON text, already checked against the
 * size limit. `need_source`: the child no longer holds the function compiled,
 * send the task again with its source; `dropped`: aborted before it started.
 */
export type Done =
  | { id: number; ms: number; ok: true; json: string }
  | { id: number; ms: number; ok: false; error: TaskError }
  | { id: number; status: "need_source" | "dropped" };

export type ChildMessage =
  | { type: "ready" }
  /**
   * Outcomes, coalesced: the child sends them when its queue runs empty, when
   * many are pending, or shortly after the first one. `ack` (a batch's seq) is
   * sent as soon as a batch is read: a child that does not say so in time is wedged.
   */
  | { type: "done"; ack?: number; results: Done[] }
  /** The latest ctx.progress() of run `id`, at most one per PROGRESS_INTERVAL_MS. */
  | { type: "progress"; id: number; fraction: number; message?: string };

/** The child sends pending outcomes at the latest this long after the first of them (if its event loop is free). */
export const FLUSH_MS = 2;
/** ...or as soon as this many are pending... */
export const FLUSH_COUNT = 128;
/** ...or as soon as their JSON text adds up to this many characters. */
export const FLUSH_CHARS = 256 * 1024;

/** The child passes on a run's progress at most this often; calls in between coalesce to the latest. */
export const PROGRESS_INTERVAL_MS = 100;

const MAX = { name: 256, message: 8192, stack: 16384, code: 64 } as const;

/** Builds a TaskError within the protocol's field limits from any thrown value. */
export function toTaskError(err: unknown, code?: string): TaskError {
  let name = "Error";
  let message = "";
  let stack: string | undefined;
  let ownCode: string | undefined;
  try {
    if (typeof err === "object" && err !== null) {
      const e = err as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown };
      if (typeof e.name === "string" && e.name) name = e.name;
      message = typeof e.message === "string" ? e.message : String(e.message ?? "");
      if (typeof e.stack === "string") stack = e.stack;
      if (typeof e.code === "string") ownCode = e.code;
    } else {
      message = String(err);
    }
  } catch {
    message = "the thrown value could not be read";
  }
  const out: TaskError = { name: name.slice(0, MAX.name), message: message.slice(0, MAX.message) };
  if (stack !== undefined) out.stack = stack.slice(0, MAX.stack);
  const finalCode = code ?? ownCode;
  if (finalCode !== undefined) out.code = finalCode.slice(0, MAX.code);
  return out;
}
