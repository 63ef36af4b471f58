// The IPC messages between the sandbox pool (parent) and a sandbox child, and
// the error shape both sides clamp to the protocol's TaskError limits. Imported
// by both, so the two ends of the channel cannot drift.

import type { TaskError } from "../../src/protocol/client.js";

/** Parent → child: run a task. `source` is left out when the child already compiled `fnHash`. */
export interface RunMessage {
  type: "run";
  id: number;
  fnHash: string;
  source?: string;
  /** The input as JSON text: the child parses it inside the task's realm. */
  inputJson: string;
  jobId: string;
  attempt: number;
}

/** Parent → child: abort the run `id` (its ctx.signal fires with this reason). */
export interface AbortMessage {
  type: "abort";
  id: number;
  reason: "timeout" | "cancelled";
}

export type ParentMessage = RunMessage | AbortMessage;

export type ChildMessage =
  | { type: "ready" }
  /** Sent as soon as a run message is read: a child that does not say so in time is wedged. */
  | { type: "started"; id: number }
  /** The child no longer holds this function compiled: send the run again with its source. */
  | { type: "need_source"; id: number }
  /** The latest ctx.progress() of run `id`, at most one per PROGRESS_INTERVAL_MS. */
  | { type: "progress"; id: number; fraction: number; message?: string }
  /** `json` is the value's JSON text, already checked against the size limit. */
  | { type: "result"; id: number; ok: true; json: string }
  | { type: "result"; id: number; ok: false; error: TaskError };

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
