// The outcomes the pool makes itself (aborts, timeouts, a child's death) and
// the checks on a value the child returns.

import { jsonDepthExceeds, LIMITS, type TaskError } from "../../src/protocol/client.js";
import type { CancelSignal } from "./cancel.js";
import { AgentError } from "./errors.js";
import { toTaskError } from "./sandbox-wire.js";

/** `bytes` is the size of the value as JSON text, for batching results by size. */
export type RunOutcome = { ok: true; value: unknown; bytes: number } | { ok: false; error: TaskError };

export function abortOutcome(reason: "timeout" | "cancelled" | string, detail: string): RunOutcome {
  const name = reason === "timeout" ? "TimeoutError" : "AbortError";
  return { ok: false, error: toTaskError({ name, message: detail }, reason) };
}

/** The code an abort carries: an AgentError's own code (e.g. agent_shutdown), else `cancelled`. */
export function abortCode(signal: CancelSignal): string {
  return signal.reason instanceof AgentError ? signal.reason.code : "cancelled";
}

export function crashed(message: string): RunOutcome {
  return { ok: false, error: toTaskError({ name: "Error", message }, "sandbox_crashed") };
}

/** A value's JSON text from the child, parsed and checked against the nesting limit. */
export function valueOutcome(json: string): RunOutcome {
  try {
    const value = JSON.parse(json) as unknown;
    if (jsonDepthExceeds(value, LIMITS.maxJsonDepth)) {
      const error = { name: "RangeError", message: `the result nests deeper than ${LIMITS.maxJsonDepth} levels` };
      return { ok: false, error: toTaskError(error, "result_too_deep") };
    }
    return { ok: true, value, bytes: json.length };
  } catch (err) {
    return { ok: false, error: toTaskError(err, "not_serializable") };
  }
}

/** What a task gets when its child died under it. */
export function exitOutcome(code: number | null, sig: NodeJS.Signals | null, maxMemoryMb: number): RunOutcome {
  // V8 aborts the process (SIGABRT) when the heap limit is reached; the kernel OOM killer sends SIGKILL.
  const oom = sig === "SIGABRT" || sig === "SIGKILL" || code === 134;
  const error = oom
    ? toTaskError({ name: "RangeError", message: `the task ran out of memory (limit ${maxMemoryMb} MB)` }, "memory_limit")
    : toTaskError({ name: "Error", message: `the sandbox exited while running the task (code=${code} signal=${sig})` }, "sandbox_crashed");
  return { ok: false, error };
}

export function memoryOutcome(mb: number, limitMb: number): RunOutcome {
  return { ok: false, error: toTaskError({ name: "RangeError", message: `the task used ${Math.round(mb)} MB of memory (limit ${limitMb} MB)` }, "memory_limit") };
}
