// The sandbox pool: one warm child process per slot (sandbox-child.js), each
// under Node's permission model with an empty environment, a heap limit and
// a resident-memory watch; inside it every function runs in its own vm realm
// (sandbox-realm.ts). The parent enforces time limits and cancellation by
// killing and replacing a child that does not stop when asked, and replaces a
// child that does not even acknowledge a task (wedged by an earlier one).

import { fork, type ChildProcess, type ForkOptions } from "node:child_process";
import { jsonDepthExceeds, LIMITS, type Task, type TaskError } from "../../src/protocol/client.js";
import { AgentError } from "./errors.js";
import { watchMemory } from "./sandbox-memory.js";
import { toTaskError, type ChildMessage, type ParentMessage } from "./sandbox-wire.js";

/** `bytes` is the size of the value as JSON text, for batching results by size. */
export type RunOutcome = { ok: true; value: unknown; bytes: number } | { ok: false; error: TaskError };
/** A running task's ctx.progress(), already checked: fraction in 0..1, message at most 200 characters. */
export type OnProgress = (fraction: number, message?: string) => void;

export interface SandboxOptions {
  /** Absolute path of the built sandbox-child.js. */
  childPath: string;
  size: number;
  /** Heap limit of each child (--max-old-space-size). */
  maxMemoryMb: number;
  /** Resident-memory limit of a child running a task, heap and all; default maxMemoryMb + 256. */
  maxRssMb?: number;
  /** Lets tasks use fetch (the volunteer's --allow-net); otherwise the children have no network. */
  allowNet?: boolean;
  /** How long a child gets to stop after an abort before it is killed. */
  abortGraceMs?: number;
  /** How long a child gets to acknowledge a task before it is deemed wedged, replaced, and the task sent again. */
  startTimeoutMs?: number;
  /** A child that has compiled this many distinct functions is replaced (module caches only grow). */
  maxFunctionsPerChild?: number;
}

interface Slot {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  fnHashes: Set<string>;
}

/**
 * The flags of a child: the permission model (`--permission` from Node 22,
 * experimental before) with read access to its own script only; vm modules,
 * for tasks written as ES modules; no code generation from strings in the
 * child's own realm; the heap limit.
 */
export function sandboxExecArgv(childPath: string, maxMemoryMb: number): string[] {
  const flag = process.allowedNodeEnvironmentFlags.has("--permission") ? "--permission" : "--experimental-permission";
  return [
    flag, `--allow-fs-read=${childPath}`, "--experimental-vm-modules", "--disallow-code-generation-from-strings",
    `--max-old-space-size=${maxMemoryMb}`, "--no-warnings",
  ];
}

/** How a child is started: no environment, no stdio but the IPC channel, and only --allow-net as an argument. */
export function sandboxFork(childPath: string, opts: { maxMemoryMb: number; allowNet?: boolean }): { args: string[]; options: ForkOptions } {
  return {
    args: opts.allowNet ? ["--allow-net"] : [],
    options: { env: {}, execArgv: sandboxExecArgv(childPath, opts.maxMemoryMb), stdio: ["ignore", "ignore", "ignore", "ipc"], serialization: "json" },
  };
}

/** What runOn answers when the child never acknowledged the task. */
const WEDGED = Symbol("wedged");

function abortOutcome(reason: "timeout" | "cancelled" | string, detail: string): RunOutcome {
  const name = reason === "timeout" ? "TimeoutError" : "AbortError";
  return { ok: false, error: toTaskError({ name, message: detail }, reason) };
}

/** The code an abort carries: an AgentError's own code (e.g. agent_shutdown), else `cancelled`. */
function abortCode(signal: AbortSignal): string {
  return signal.reason instanceof AgentError ? signal.reason.code : "cancelled";
}

export class SandboxPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<(slot: Slot) => void> = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: SandboxOptions) {}

  /** Forks every child and waits until each says it is ready. */
  async start(): Promise<void> {
    for (let i = 0; i < this.opts.size; i++) this.slots.push(this.spawn());
    try {
      await Promise.all(this.slots.map((s) => s.ready));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private spawn(): Slot {
    const { args, options } = sandboxFork(this.opts.childPath, this.opts);
    const child = fork(this.opts.childPath, args, options);
    // A send to a child that just died reports through 'exit'; keep 'error' from throwing.
    child.on("error", () => {});
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (msg: ChildMessage): void => {
        if (msg?.type !== "ready") return;
        child.off("exit", onExit);
        child.off("message", onMessage);
        resolve();
      };
      const onExit = (code: number | null, signal: string | null): void => {
        reject(new AgentError("sandbox_unavailable", `sandbox child exited on start (code=${code} signal=${signal})`));
      };
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
    ready.catch(() => {});
    return { child, ready, busy: false, fnHashes: new Set() };
  }

  /** Kills a slot's child (if alive) and puts a fresh one in its place. */
  private replace(slot: Slot): void {
    if (slot.child.exitCode === null && slot.child.signalCode === null) slot.child.kill("SIGKILL");
    if (this.closed) return;
    Object.assign(slot, this.spawn());
  }

  private acquire(): Promise<Slot> {
    const idle = this.slots.find((s) => !s.busy);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next && !this.closed) next(slot);
    else slot.busy = false;
  }

  /**
   * Runs one task to an outcome; never throws for anything the task does.
   * `signal` cancels it (code `cancelled`, or the AgentError code given as
   * the abort reason); the task's own `timeoutMs` times it out (code `timeout`).
   */
  async run(task: Task, source: string, signal?: AbortSignal, onProgress?: OnProgress): Promise<RunOutcome> {
    if (this.closed) throw new AgentError("sandbox_closed", "the sandbox pool is closed");
    if (signal?.aborted) return abortOutcome(abortCode(signal), "the task was cancelled before it started");
    const slot = await this.acquire();
    try {
      const inputJson = JSON.stringify(task.input ?? null);
      for (let tries = 1; ; tries++) {
        // A child may have died while idle (a stray timer calling process.exit): start afresh.
        if (!slot.child.connected) this.replace(slot);
        await slot.ready.catch(() => this.replace(slot));
        await slot.ready;
        if (signal?.aborted) return abortOutcome(abortCode(signal), "the task was cancelled before it started");
        const outcome = await this.runOn(slot, task, source, inputJson, signal, onProgress);
        if (outcome !== WEDGED) return outcome;
        // Something an earlier task left running keeps the child from reading its messages: only this task's slot suffers, once.
        this.replace(slot);
        if (tries >= 2) return { ok: false, error: toTaskError({ name: "Error", message: "the sandbox did not take the task" }, "sandbox_crashed") };
      }
    } catch (err) {
      return { ok: false, error: toTaskError(err, "sandbox_crashed") };
    } finally {
      if (slot.fnHashes.size >= (this.opts.maxFunctionsPerChild ?? 256)) this.replace(slot);
      this.release(slot);
    }
  }

  private runOn(slot: Slot, task: Task, source: string, inputJson: string, signal?: AbortSignal, onProgress?: OnProgress): Promise<RunOutcome | typeof WEDGED> {
    const { child } = slot;
    const id = this.nextId++;
    const graceMs = this.opts.abortGraceMs ?? 500;
    const maxRssMb = this.opts.maxRssMb ?? this.opts.maxMemoryMb + 256;
    return new Promise((resolve) => {
      let aborted: { code: string; message: string } | null = null;
      let killTimer: NodeJS.Timeout | undefined;
      let timeoutTimer: NodeJS.Timeout | undefined;
      let stopWatch = (): void => {};
      let settled = false;

      const finish = (outcome: RunOutcome | typeof WEDGED, replaceChild: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(startTimer);
        clearTimeout(timeoutTimer);
        clearTimeout(killTimer);
        stopWatch();
        signal?.removeEventListener("abort", onAbort);
        child.off("message", onMessage);
        child.off("exit", onExit);
        if (replaceChild) this.replace(slot);
        resolve(outcome);
      };
      const abort = (code: string, message: string): void => {
        if (aborted) return;
        aborted = { code, message };
        const msg: ParentMessage = { type: "abort", id, reason: code === "timeout" ? "timeout" : "cancelled" };
        child.send(msg, () => {});
        // A task that ignores its signal (or spins in a loop) is stopped the hard way.
        killTimer = setTimeout(() => finish(abortOutcome(code, message), true), graceMs);
      };
      const onAbort = (): void => abort(abortCode(signal!), signal!.reason instanceof AgentError ? signal!.reason.message : "the task was cancelled");
      const started = (): void => {
        if (timeoutTimer) return;
        clearTimeout(startTimer);
        // The time limit counts from when the child has the task, so a slow or replaced child does not eat into it.
        timeoutTimer = setTimeout(() => abort("timeout", `the task ran longer than ${task.timeoutMs} ms`), task.timeoutMs);
        if (child.pid !== undefined) {
          stopWatch = watchMemory(child.pid, maxRssMb, (mb) =>
            finish({ ok: false, error: toTaskError({ name: "RangeError", message: `the task used ${Math.round(mb)} MB of memory (limit ${maxRssMb} MB)` }, "memory_limit") }, true),
          );
        }
      };
      const onMessage = (msg: ChildMessage): void => {
        if (msg?.type === "started" && msg.id === id) return started();
        if (msg?.type === "progress" && msg.id === id) {
          const { fraction, message } = msg;
          if (!aborted && typeof fraction === "number" && fraction >= 0 && fraction <= 1 && (message === undefined || typeof message === "string")) {
            onProgress?.(fraction, message?.slice(0, 200));
          }
          return;
        }
        if (msg?.type === "need_source" && msg.id === id) {
          child.send({ type: "run", id, fnHash: task.fnHash, source, inputJson, jobId: task.jobId, attempt: task.attempt } satisfies ParentMessage, () => {});
          return;
        }
        if (msg?.type !== "result" || msg.id !== id) return;
        if (aborted) return finish(abortOutcome(aborted.code, aborted.message), false);
        if (!msg.ok) return finish({ ok: false, error: toTaskError(msg.error, msg.error?.code) }, false);
        try {
          const value = JSON.parse(msg.json) as unknown;
          if (jsonDepthExceeds(value, LIMITS.maxJsonDepth)) {
            const error = { name: "RangeError", message: `the result nests deeper than ${LIMITS.maxJsonDepth} levels` };
            return finish({ ok: false, error: toTaskError(error, "result_too_deep") }, false);
          }
          finish({ ok: true, value, bytes: msg.json.length }, false);
        } catch (err) {
          finish({ ok: false, error: toTaskError(err, "not_serializable") }, false);
        }
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
        if (aborted) return finish(abortOutcome(aborted.code, aborted.message), true);
        // V8 aborts the process (SIGABRT) when the heap limit is reached; the kernel OOM killer sends SIGKILL.
        const oom = sig === "SIGABRT" || sig === "SIGKILL" || code === 134;
        const error = oom
          ? toTaskError({ name: "RangeError", message: `the task ran out of memory (limit ${this.opts.maxMemoryMb} MB)` }, "memory_limit")
          : toTaskError({ name: "Error", message: `the sandbox exited while running the task (code=${code} signal=${sig})` }, "sandbox_crashed");
        finish({ ok: false, error }, true);
      };

      const startTimer = setTimeout(() => finish(WEDGED, false), this.opts.startTimeoutMs ?? 2_000);
      signal?.addEventListener("abort", onAbort, { once: true });
      child.on("message", onMessage);
      child.once("exit", onExit);
      const known = slot.fnHashes.has(task.fnHash);
      slot.fnHashes.add(task.fnHash);
      const msg: ParentMessage = {
        type: "run", id, fnHash: task.fnHash, source: known ? undefined : source,
        inputJson, jobId: task.jobId, attempt: task.attempt,
      };
      child.send(msg, () => {});
    });
  }

  /** Stops every child. Tasks still running end as crashed; callers drain first. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map((slot) => {
        const { child } = slot;
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGKILL");
        return exited;
      }),
    );
  }
}
