// Runs INSIDE a task's vm context (see realm-events.ts for the rules): calls
// the task's function. The input arrives as JSON text and is parsed here; the
// ctx and its AbortSignal are made here; the result is serialized here and
// leaves as a string. So the task never holds an object of the agent's realm,
// and the agent's realm never holds (or awaits) one of the task's.

import type { RealmHooks } from "./realm-events.js";

/** Bridge: a run ended. `status` is one of RUN_STATUS; `text` is the value's JSON or the error's description. */
export type Done = (id: number, status: number, text: string) => void;

/** Bridge: a run reported progress, as primitives only (fraction in 0..1, message at most 200 characters or ""). */
export type Progress = (id: number, fraction: number, message: string) => void;

/** How a run ended, as passed to Done. */
export const RUN_STATUS = { ok: 0, threw: 1, tooLarge: 2, notSerializable: 3 } as const;

export interface RunnerControl {
  run(id: number, fn: unknown, inputJson: string, jobId: string, attempt: number, maxChars: number): void;
  abort(id: number, reason: string): void;
  /** JSON text { name, message, stack?, code? } describing any thrown value. */
  describe(err: unknown, code?: string): string;
  /** An error of this realm, for refusing an import. */
  refusal(specifier: string): unknown;
  /** An error nobody caught (an unhandled rejection) fails the task running here, if any. */
  stray(err: unknown): void;
}

export function installRunner(g: any, hooks: RealmHooks, done: Done, progress: Progress): RunnerControl {
  // The numbers of RUN_STATUS, repeated: this function cannot see module scope.
  const OK = 0, THREW = 1, TOO_LARGE = 2, NOT_SERIALIZABLE = 3;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const { AbortController, DOMException } = g;
  let current: { id: number; controller: any } | null = null;

  const describe = (err: unknown, code?: string): string => {
    let name = "Error";
    let message = "";
    let stack: string | undefined;
    let ownCode: string | undefined;
    try {
      if (err !== null && (typeof err === "object" || typeof err === "function")) {
        const e = err as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown };
        if (typeof e.name === "string" && e.name) name = e.name;
        const m = e.message;
        message = typeof m === "string" ? m : m === undefined || m === null ? "" : String(m);
        if (typeof e.stack === "string") stack = e.stack;
        if (typeof e.code === "string") ownCode = e.code;
      } else message = String(err);
    } catch {
      message = "the thrown value could not be read";
    }
    let text: unknown;
    try {
      text = stringify({ name: String(name).slice(0, 256), message: String(message).slice(0, 8192), stack: stack?.slice(0, 16384), code: code ?? ownCode });
    } catch {
      // A toJSON the task put on Object.prototype, say.
    }
    return typeof text === "string" ? text : '{"name":"Error","message":"the thrown value could not be described"}';
  };

  const end = (id: number, status: number, text: string): void => {
    if (current?.id !== id) return;
    current = null;
    done(id, status, text);
  };

  const finish = (id: number, value: unknown, maxChars: number): void => {
    if (typeof value === "string" && value.length > maxChars) return end(id, TOO_LARGE, "");
    let json: unknown;
    try {
      json = value === undefined ? "null" : stringify(value);
    } catch (err) {
      return end(id, NOT_SERIALIZABLE, describe(err, "not_serializable"));
    }
    if (typeof json !== "string") {
      return end(id, NOT_SERIALIZABLE, describe(new TypeError(`the result (${typeof value}) is not JSON-serializable`), "not_serializable"));
    }
    // A UTF-16 length over the limit means at least as many UTF-8 bytes; the agent checks the exact byte count.
    if (json.length > maxChars) return end(id, TOO_LARGE, "");
    end(id, OK, json);
  };

  // An error nobody caught (a timer callback, an event listener) fails the task running here, if any.
  hooks.stray = (err) => {
    if (current) end(current.id, THREW, describe(err));
  };

  return {
    run(id, fn, inputJson, jobId, attempt, maxChars) {
      const controller = new AbortController();
      current = { id, controller };
      // Only numbers and strings cross to the agent; the task's values are read here, in its realm.
      const report = (fraction: unknown, message?: unknown): void => {
        if (current?.id !== id || typeof fraction !== "number" || fraction !== fraction) return;
        const f = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
        progress(id, f, typeof message === "string" ? message.slice(0, 200) : "");
      };
      const ctx = { signal: controller.signal, jobId, attempt, progress: report };
      new Promise((resolve) => resolve((fn as Function)(parse(inputJson), ctx))).then(
        (value) => finish(id, value, maxChars),
        (err) => end(id, THREW, describe(err)),
      );
    },
    abort(id, reason) {
      if (current?.id !== id) return;
      const timeout = reason === "timeout";
      current.controller.abort(new DOMException(`the task was ${timeout ? "timed out" : "cancelled"}`, timeout ? "TimeoutError" : "AbortError"));
    },
    describe,
    refusal(specifier) {
      const err = new TypeError(`import of "${String(specifier).slice(0, 100)}" refused: a task cannot load modules`);
      Object.defineProperty(err, "code", { value: "ERR_ACCESS_DENIED", enumerable: true });
      return err;
    },
    stray: (err) => hooks.stray(err),
  };
}
