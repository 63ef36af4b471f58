// One accepted task, from its function source to the result to report:
// fetch the source (checked against the signed fnHash), check the
// submitter's signature when the volunteer asked for that, run it in the
// sandbox. Every path ends in exactly one TaskResult.

import type { Task, TaskResult } from "../../src/protocol/client.js";
import { coerceError, errorCode } from "./errors.js";
import type { CancelSignal } from "./cancel.js";
import type { FunctionCache } from "./functions.js";
import { isFatal } from "./http.js";
import type { Logger } from "./log.js";
import type { OnProgress, SandboxPool } from "./sandbox.js";
import { toTaskError } from "./sandbox-wire.js";
import type { SubmitterTrust } from "./trust.js";

export interface TaskRunContext {
  functions: FunctionCache;
  pool: SandboxPool;
  /** Null unless the volunteer passed --trust-submitter. */
  trust: SubmitterTrust | null;
  log: Logger;
  /** An error no retry can change (a revoked agent): the agent stops. */
  onFatal: (err: Error) => void;
}

function rejectOnAbort(signal: CancelSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
}

/** Runs `task` to its result and the size of its value as JSON; never throws. */
export async function runTask(ctx: TaskRunContext, task: Task, signal: CancelSignal, onProgress?: OnProgress): Promise<{ result: TaskResult; bytes: number }> {
  const { leaseId } = task;
  try {
    const source = ctx.functions.peek(task.fnHash) ?? (await Promise.race([ctx.functions.get(task.fnHash), rejectOnAbort(signal)]));
    // The source now hashes to the signed fnHash; a trusted submitter's signature binds that hash to this input.
    const trusted = ctx.trust ? await ctx.trust.check(task) : { ok: true as const };
    if (!trusted.ok) {
      ctx.log.warn("refused task", { jobId: task.jobId, code: trusted.code, reason: trusted.reason });
      return { result: { leaseId, ok: false, rejected: trusted.code }, bytes: 0 };
    }
    const outcome = await ctx.pool.run(task, source, signal, onProgress);
    return outcome.ok
      ? { result: { leaseId, ok: true, value: outcome.value }, bytes: outcome.bytes }
      : { result: { leaseId, ok: false, error: outcome.error }, bytes: 0 };
  } catch (err) {
    const e = coerceError(err);
    const code = errorCode(e);
    if (code === "fn_hash_mismatch" || code === "function_unavailable") return { result: { leaseId, ok: false, rejected: code }, bytes: 0 };
    if (isFatal(e)) ctx.onFatal(e);
    const name = signal.aborted ? "AbortError" : e.name;
    return { result: { leaseId, ok: false, error: toTaskError({ name, message: e.message }, code) }, bytes: 0 };
  }
}
