// One task realm: a node:vm context per function, inside a sandbox child.
// Its global object starts empty (a null-prototype object, so no lookup can
// fall through to this realm's Object), gets only the web-style globals the
// realm-*.ts installers create inside it, and cannot compile code from
// strings (eval and new Function would make code that dynamic import() could
// reach the agent's module loader from). import() and static imports are
// refused with an error of the task's own realm.
//
// The rule at this boundary: only primitives cross it, except the compiled
// function, which is handed straight back to the realm's runner. Nothing here
// awaits or resolves a promise with a value from the realm (that would call
// the task's `then`), and the realm's functions are called as plain functions.

import vm from "node:vm";
import { installEncoding } from "./realm-encoding.js";
import { installEvents } from "./realm-events.js";
import { installRunner, RUN_STATUS, type RunnerControl } from "./realm-runner.js";
import { installRuntime, type RuntimeControl } from "./realm-runtime.js";
import { installUrl } from "./realm-url.js";
import { TaskHost, type HostOptions } from "./sandbox-host.js";
import { toTaskError } from "./sandbox-wire.js";
import { LIMITS } from "../../src/protocol/limits.js";
import type { TaskError } from "../../src/protocol/client.js";

export const REALM_FILENAME = "dist-sandbox-realm.js";

// Evaluated inside each new context. The installers are inserted as source
// text; whatever they build belongs to that context.
const BOOTSTRAP_SOURCE = `"use strict";
(function bootstrap(host, allowNet, done, progress) {
  const g = globalThis;
  const defineProperty = Object.defineProperty;
  const hooks = {
    stray: () => {},
    setTimeout: () => 0,
    define(values) {
      for (const key of Object.keys(values)) defineProperty(g, key, { value: values[key], writable: true, configurable: true, enumerable: false });
    },
  };
  delete g.console;
  (${installEvents.toString()})(hooks);
  (${installEncoding.toString()})(g, hooks);
  (${installUrl.toString()})(hooks, host);
  const runtime = (${installRuntime.toString()})(g, hooks, host, allowNet);
  const runner = (${installRunner.toString()})(g, hooks, done, progress);
  // The agent's realm awaits one promise of this realm: a module's evaluation.
  // Fixing these keeps a task from slipping its own 'then' into that await.
  for (const key of ["then", "catch", "finally", "constructor"]) defineProperty(Promise.prototype, key, { writable: false, configurable: false });
  defineProperty(Promise, Symbol.species, { configurable: false });
  return [runtime.fire, runtime.fetchDone, runtime.fetchFail, runtime.reset, runner.run, runner.abort, runner.describe, runner.refusal, runner.stray, Promise.prototype];
})`;

let bootstrapScript: vm.Script | undefined;

/** An outcome of one run, in the agent's realm: the value's JSON text, or the error. */
export type RealmOutcome = { ok: true; json: string } | { ok: false; error: TaskError };

/** A failure to compile the function; `error` is already in this realm. */
export class CompileError extends Error {
  constructor(readonly error: TaskError) {
    super(error.message);
  }
}

// Errors the sandbox makes itself carry no stack: it would only show the agent's own files.
export const resultTooLarge = (): TaskError =>
  toTaskError({ name: "RangeError", message: `the result is larger than ${LIMITS.maxResultBytes} bytes` }, "result_too_large");

const MODULE_SYNTAX = /^\s*(?:export\s|import\s*[\w{*'"])/m;

/** Drops the sandbox's own frames from a task's stack trace. */
function withCleanStack(error: TaskError): TaskError {
  if (error.stack === undefined) return error;
  error.stack = error.stack
    .split("\n")
    .filter((line) => !line.includes(REALM_FILENAME) && !line.includes("node:internal") && !line.includes("sandbox-child.js"))
    .join("\n");
  return error;
}

export class Realm {
  private readonly context: vm.Context;
  private readonly host: TaskHost;
  private readonly promiseProto: unknown;
  private readonly reset: RuntimeControl["reset"];
  private readonly runFn: RunnerControl["run"];
  private readonly abortFn: RunnerControl["abort"];
  private readonly describeFn: RunnerControl["describe"];
  private readonly refusal: RunnerControl["refusal"];
  private readonly strayFn: RunnerControl["stray"];
  private readonly pending = new Map<number, (outcome: RealmOutcome) => void>();
  private readonly progressTo = new Map<number, (fraction: number, message?: string) => void>();
  private fn: unknown;

  constructor(private readonly fnHash: string, opts: HostOptions) {
    this.context = vm.createContext(Object.create(null), {
      name: `dist-fn-${fnHash.slice(0, 12)}`,
      codeGeneration: { strings: false, wasm: true },
    });
    this.host = new TaskHost(opts);
    bootstrapScript ??= new vm.Script(BOOTSTRAP_SOURCE, { filename: REALM_FILENAME });
    const install = bootstrapScript.runInContext(this.context) as (...args: unknown[]) => unknown[];
    const done = (id: number, status: number, text: string): void => this.done(id, status, text);
    const progress = (id: number, fraction: number, message: string): void => this.progress(id, fraction, message);
    const parts = install(this.host.bridge(), opts.allowNet, done, progress);
    // Read once, now, before any task code has run in this realm.
    const [fire, fetchDone, fetchFail, reset, run, abort, describe, refusal, stray, promiseProto] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => parts[i]);
    this.host.connect(fire as RuntimeControl["fire"], fetchDone as RuntimeControl["fetchDone"], fetchFail as RuntimeControl["fetchFail"]);
    this.reset = reset as RuntimeControl["reset"];
    this.runFn = run as RunnerControl["run"];
    this.abortFn = abort as RunnerControl["abort"];
    this.describeFn = describe as RunnerControl["describe"];
    this.refusal = refusal as RunnerControl["refusal"];
    this.strayFn = stray as RunnerControl["stray"];
    this.promiseProto = promiseProto;
  }

  /** Compiles the function source (an expression, or a module with a default export); throws CompileError. */
  async compile(source: string): Promise<void> {
    const filename = `dist-fn-${this.fnHash.slice(0, 12)}.js`;
    const { refusal } = this;
    const refuse = (specifier: unknown): never => {
      throw refusal(String(specifier));
    };
    const build = {
      // The wrapper adds text only before line 1, so the source keeps its line numbers.
      expression: () => {
        const script = new vm.Script(`(${source}\n)`, { filename, importModuleDynamically: refuse as never });
        return async (): Promise<void> => {
          this.fn = script.runInContext(this.context);
        };
      },
      module: () => {
        const mod = new vm.SourceTextModule(source, { context: this.context, identifier: filename, importModuleDynamically: refuse as never });
        return async (): Promise<void> => {
          await mod.link(refuse);
          await mod.evaluate();
          this.fn = (mod.namespace as Record<string, unknown>).default;
        };
      },
    };
    const order = MODULE_SYNTAX.test(source) ? [build.module, build.expression] : [build.expression, build.module];
    let evaluate: () => Promise<void>;
    try {
      evaluate = order[0]!();
    } catch (first) {
      try {
        evaluate = order[1]!();
      } catch {
        throw new CompileError(this.describe(first));
      }
    }
    try {
      await evaluate();
    } catch (err) {
      throw new CompileError(this.describe(err));
    }
    if (typeof this.fn !== "function") {
      throw new CompileError(toTaskError({ name: "TypeError", message: "the function source must be a function expression or a module whose default export is a function" }));
    }
  }

  /** Runs the compiled function on `inputJson`; `onDone` gets the outcome once. */
  run(
    id: number, inputJson: string, jobId: string, attempt: number, maxChars: number,
    onDone: (outcome: RealmOutcome) => void, onProgress?: (fraction: number, message?: string) => void,
  ): void {
    this.pending.set(id, onDone);
    if (onProgress) this.progressTo.set(id, onProgress);
    const { runFn } = this;
    runFn(id, this.fn, inputJson, jobId, attempt, maxChars);
  }

  abort(id: number, reason: "timeout" | "cancelled"): void {
    const { abortFn } = this;
    abortFn(id, reason);
  }

  /** Fails the task running here with an error nobody caught (an unhandled rejection of this realm). */
  stray(err: unknown): void {
    const { strayFn } = this;
    strayFn(err);
  }

  /** Whether `promise` was made in this realm. */
  owns(promise: unknown): boolean {
    return typeof promise === "object" && promise !== null && Object.getPrototypeOf(promise) === this.promiseProto;
  }

  /** Clears what a finished task left behind: timers, requests. */
  end(): void {
    this.host.reset();
    const { reset } = this;
    reset();
  }

  /** Describes any thrown value (of either realm) as a TaskError of this realm. */
  describe(err: unknown, code?: string): TaskError {
    const { describeFn } = this;
    try {
      return withCleanStack(toTaskError(JSON.parse(describeFn(err, code)) as unknown));
    } catch {
      return toTaskError({ name: "Error", message: "the error could not be described" }, code);
    }
  }

  /** ctx.progress() of run `id`, checked again here: the bridge is the realm's to call. */
  private progress(id: number, fraction: number, message: string): void {
    const to = this.progressTo.get(id);
    if (!to || typeof fraction !== "number" || !(fraction >= 0 && fraction <= 1) || typeof message !== "string") return;
    to(fraction, message ? message.slice(0, 200) : undefined);
  }

  private done(id: number, status: number, text: string): void {
    const onDone = this.pending.get(id);
    if (!onDone || typeof status !== "number" || typeof text !== "string") return;
    this.pending.delete(id);
    this.progressTo.delete(id);
    let outcome: RealmOutcome;
    if (status === RUN_STATUS.ok) outcome = { ok: true, json: text };
    else if (status === RUN_STATUS.tooLarge) outcome = { ok: false, error: resultTooLarge() };
    else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { name: "Error", message: "the error could not be described" };
      }
      outcome = { ok: false, error: withCleanStack(toTaskError(parsed, status === RUN_STATUS.notSerializable ? "not_serializable" : undefined)) };
    }
    onDone(outcome);
  }
}
