// The sandbox child: a warm Node process, started by the pool under Node's
// permission model with an empty environment, that runs one task at a time.
// It compiles each function once (as an ES module from a data: URL, which
// needs no file-system access), calls `fn(input, ctx)` and sends back the
// value as checked JSON or the error as { name, message, stack }.

import { LIMITS } from "../../src/protocol/limits.js";
import { toTaskError, type ChildMessage, type ParentMessage, type RunMessage } from "./sandbox-wire.js";

type TaskFn = (input: unknown, ctx: { signal: AbortSignal; jobId: string; attempt: number }) => unknown;

// Keep a private handle on the channel before any task code runs.
const send = process.send?.bind(process) as ((msg: ChildMessage) => boolean) | undefined;
if (!send) throw new Error("sandbox-child must be started by the dist-agent sandbox pool (no IPC channel)");

const compiled = new Map<string, Promise<TaskFn>>();
let current: { id: number; controller: AbortController; replied: boolean } | null = null;

const MODULE_SYNTAX = /^\s*(?:export\s|import\s*[\w{*'"])/m;

async function importSource(text: string, fnHash: string): Promise<Record<string, unknown>> {
  // sourceURL keeps stack traces short: without it every frame would name the whole data: URL.
  const body = `${text}\n//# sourceURL=dist-fn-${fnHash.slice(0, 12)}.js\n`;
  return (await import("data:text/javascript;base64," + Buffer.from(body).toString("base64"))) as Record<string, unknown>;
}

/** A function expression/arrow, or an ES module whose default export is a function. */
async function compile(source: string, fnHash: string): Promise<TaskFn> {
  // The wrapper keeps the source's line numbers: it adds text only before line 1.
  const asExpression = (): Promise<Record<string, unknown>> => importSource(`export default (${source}\n);`, fnHash);
  const asModule = (): Promise<Record<string, unknown>> => importSource(source, fnHash);
  const [first, second] = MODULE_SYNTAX.test(source) ? [asModule, asExpression] : [asExpression, asModule];
  let mod: Record<string, unknown>;
  try {
    mod = await first();
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    try {
      mod = await second();
    } catch {
      throw err;
    }
  }
  if (typeof mod.default !== "function") {
    throw new TypeError("the function source must be a function expression or a module whose default export is a function");
  }
  return mod.default as TaskFn;
}

function reply(id: number, msg: ChildMessage): void {
  if (!current || current.id !== id || current.replied) return;
  current.replied = true;
  current = null;
  send!(msg);
}

function valueMessage(id: number, value: unknown): ChildMessage {
  let json: string | undefined;
  try {
    json = value === undefined ? "null" : JSON.stringify(value);
  } catch (err) {
    return { type: "result", id, ok: false, error: toTaskError(new TypeError(`the result is not JSON-serializable: ${(err as Error).message}`), "not_serializable") };
  }
  if (json === undefined) {
    return { type: "result", id, ok: false, error: toTaskError(new TypeError(`the result (${typeof value}) is not JSON-serializable`), "not_serializable") };
  }
  if (Buffer.byteLength(json) > LIMITS.maxResultBytes) {
    return { type: "result", id, ok: false, error: toTaskError(new RangeError(`the result is larger than ${LIMITS.maxResultBytes} bytes`), "result_too_large") };
  }
  return { type: "result", id, ok: true, json };
}

function errorMessage(id: number, err: unknown): ChildMessage {
  const error = toTaskError(err);
  if (error.stack) error.stack = error.stack.replace(/data:text\/javascript;base64,[A-Za-z0-9+/=]+/g, "dist-fn");
  return { type: "result", id, ok: false, error };
}

async function run(msg: RunMessage): Promise<void> {
  const controller = new AbortController();
  current = { id: msg.id, controller, replied: false };
  try {
    let fn = compiled.get(msg.fnHash);
    if (!fn) {
      if (msg.source === undefined) {
        reply(msg.id, { type: "need_source", id: msg.id });
        return;
      }
      fn = compile(msg.source, msg.fnHash);
      compiled.set(msg.fnHash, fn);
      fn.catch(() => compiled.delete(msg.fnHash));
    }
    const value = await (await fn)(msg.input, { signal: controller.signal, jobId: msg.jobId, attempt: msg.attempt });
    reply(msg.id, valueMessage(msg.id, value));
  } catch (err) {
    reply(msg.id, errorMessage(msg.id, err));
  }
}

process.on("message", (msg: ParentMessage) => {
  if (msg.type === "run") void run(msg);
  else if (msg.type === "abort" && current?.id === msg.id) {
    const name = msg.reason === "timeout" ? "TimeoutError" : "AbortError";
    current.controller.abort(new DOMException(`the task was ${msg.reason === "timeout" ? "timed out" : "cancelled"}`, name));
  }
});

// An error thrown outside the awaited promise chain (a stray timer, an
// unawaited rejection) fails the current task instead of killing the child.
const strayError = (err: unknown): void => {
  if (current) reply(current.id, errorMessage(current.id, err));
};
process.on("uncaughtException", strayError);
process.on("unhandledRejection", strayError);
// The pool is gone (the agent exited or was killed): nothing left to serve.
process.on("disconnect", () => process.exit(0));

send({ type: "ready" });
