// The agent's main loop. One long-poll in flight at a time asks for as many
// tasks as there are free slots; each answer is verified, its tasks run in the
// sandbox pool, and results go back in batches. A task holds its slot from
// the moment it arrives until the coordinator has acknowledged its result, so
// the coordinator never sees this agent holding more than `concurrency` leases.

import { fileURLToPath } from "node:url";
import { LIMITS, type HeartbeatResponse, type RejectionCode, type ResultsResponse, type Task, type TaskResult } from "../../src/protocol/client.js";
import { retry, sleep, type RetryOptions } from "./backoff.js";
import { AGENT_VERSION, type AgentConfig } from "./config.js";
import { AgentError, coerceError, errorCode } from "./errors.js";
import { FunctionCache } from "./functions.js";
import { heartbeatLoop } from "./heartbeat.js";
import { HttpClient, isRetryable } from "./http.js";
import type { Logger } from "./log.js";
import { ResultsOutbox } from "./results-outbox.js";
import { SandboxPool } from "./sandbox.js";
import { toTaskError } from "./sandbox-wire.js";
import { Verifier } from "./verifier.js";

/** An empty poll answered faster than this is followed by a pause, so `--wait 0` cannot spin. */
const MIN_EMPTY_POLL_MS = 1_000;

interface Held {
  task: Task;
  running: boolean;
  abort: AbortController;
}

export interface AgentOptions {
  /** The built sandbox-child.js; defaults to the one next to this bundle. */
  childPath?: string;
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
}

export class Agent {
  private readonly http: HttpClient;
  private readonly pool: SandboxPool;
  private readonly functions: FunctionCache;
  private verifier: Verifier | null = null;
  private readonly held = new Map<string, Held>();
  private readonly outbox: ResultsOutbox;
  /** Aborted by stop(): ends polling. */
  private readonly stopCtl = new AbortController();
  /** Aborted at the very end: ends heartbeats, function fetches and result retries. */
  private readonly endCtl = new AbortController();
  private waiters: Array<() => void> = [];
  private fatal: Error | null = null;
  private reachable = true;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    opts: AgentOptions = {},
  ) {
    this.http = new HttpClient({ url: config.url, token: config.token, agentId: config.agentId, userAgent: `dist-agent/${AGENT_VERSION}` });
    this.pool = new SandboxPool({
      childPath: opts.childPath ?? fileURLToPath(new URL("./sandbox-child.js", import.meta.url)),
      size: config.concurrency,
      maxMemoryMb: config.maxMemoryMb,
    });
    const endSignal = this.endCtl.signal;
    this.outbox = new ResultsOutbox({
      send: async (results) =>
        (await this.http.request<ResultsResponse>("POST", "/v1/agent/results", { results }, { signal: endSignal, timeoutMs: 60_000 })).body,
      retry: this.retryOptions(endSignal),
      onSent: (results, answer) => this.acknowledged(results, answer),
      onFatal: (err) => this.fail(err),
    });
    this.functions = new FunctionCache((fnHash) =>
      retry(
        async () => (await this.http.request("GET", `/v1/agent/functions/${fnHash}`, undefined, { signal: endSignal, timeoutMs: 60_000 })).body,
        this.retryOptions(endSignal),
      ),
    );
  }

  /** Serves tasks until stop() (resolves) or a fatal error such as a refused token (rejects). */
  async run(): Promise<void> {
    this.verifier = await Verifier.create({ publicKeys: this.config.publicKeys, agentId: this.config.agentId, clockSkewMs: this.config.clockSkewMs });
    await this.pool.start();
    const { agentId, queue, concurrency, url } = this.config;
    this.log.info("ready", { agentId, queue, concurrency, url: new URL(url).origin, version: AGENT_VERSION });
    const signal = this.endCtl.signal;
    const heartbeats = heartbeatLoop({
      intervalMs: this.config.heartbeatMs,
      signal,
      running: () => [...this.held].filter(([, h]) => h.running).map(([id]) => id),
      send: async (leaseIds) =>
        (await this.http.request<HeartbeatResponse>("POST", "/v1/agent/heartbeat", { leaseIds }, { signal, timeoutMs: 15_000 })).body,
      onAbort: (leaseId) => this.cancel(leaseId),
      onAnswer: () => this.reconnected(),
      onError: (err) => (isRetryable(err) ? this.unreachable(err) : this.fail(err)),
    });
    try {
      await this.pollLoop();
      await this.drain();
    } finally {
      this.endCtl.abort();
      await Promise.all([heartbeats, this.outbox.settled()]);
      await this.pool.close();
      this.http.close();
    }
    if (this.fatal) throw this.fatal;
  }

  /** Stops polling; run() then lets running tasks finish within the grace, flushes results and resolves. */
  stop(): void {
    if (this.stopCtl.signal.aborted) return;
    this.stopCtl.abort();
    this.notify();
  }

  private fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = coerceError(err);
    this.stop();
  }

  // --- connection state: logged once per change, not once per try ---

  private retryOptions(signal: AbortSignal): RetryOptions {
    return { signal, isRetryable, onRetry: (err) => this.unreachable(err) };
  }

  private unreachable(err: unknown): void {
    if (!this.reachable) return;
    this.reachable = false;
    this.log.warn("coordinator unreachable", { code: errorCode(err), retrying: true });
  }

  private reconnected(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.log.info("reconnected");
  }

  // --- waiting on slot changes ---

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until `done()` holds or `ms` pass; true if it holds. Woken by notify(). */
  private async until(done: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const timer = new AbortController();
      await Promise.race([new Promise<void>((wake) => this.waiters.push(wake)), sleep(left, timer.signal)]);
      timer.abort();
    }
    return true;
  }

  private runningCount(): number {
    let n = 0;
    for (const held of this.held.values()) if (held.running) n++;
    return n;
  }

  // --- polling and accepting work ---

  private async pollLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    const { waitSeconds, queue, labels, concurrency } = this.config;
    while (!signal.aborted) {
      const slots = Math.min(concurrency - this.held.size, LIMITS.maxSlots);
      if (slots <= 0) {
        await this.until(() => signal.aborted || this.held.size < concurrency, 60_000);
        continue;
      }
      const body = { slots, wait: waitSeconds, queue, ...(labels.length ? { labels } : {}) };
      const started = Date.now();
      let answer;
      try {
        answer = await retry(
          () => this.http.request("POST", "/v1/agent/poll", body, { signal, timeoutMs: waitSeconds * 1000 + 15_000 }),
          this.retryOptions(signal),
        );
      } catch (err) {
        if (!signal.aborted) this.fail(err);
        return;
      }
      this.reconnected();
      if (answer.status === 200) await this.accept(answer.body);
      else if (Date.now() - started < MIN_EMPTY_POLL_MS) await sleep(MIN_EMPTY_POLL_MS - (Date.now() - started), signal);
    }
  }

  private hold(task: Task, running: boolean): void {
    this.held.set(task.leaseId, { task, running, abort: new AbortController() });
  }

  /** Reports a task as refused — unless this agent holds its lease: a refused copy must not end the real one. */
  private refuse(task: Task, code: RejectionCode): void {
    if (this.held.has(task.leaseId) || task.leaseId.length > 128) return;
    this.hold(task, false);
    this.report({ leaseId: task.leaseId, ok: false, rejected: code }, 0);
  }

  private async accept(envelope: unknown): Promise<void> {
    const verdict = await this.verifier!.checkEnvelope(envelope);
    if (!verdict.ok) {
      const tasks = verdict.payload?.tasks ?? [];
      this.log.warn("refused envelope", { code: verdict.code, reason: verdict.reason, tasks: tasks.length });
      for (const task of tasks) this.refuse(task, verdict.code);
      return;
    }
    for (const task of verdict.payload.tasks) {
      const replayed = this.held.has(task.leaseId) ? "lease_replayed" : this.verifier!.checkLease(task.leaseId);
      if (replayed) {
        this.log.warn("refused task", { jobId: task.jobId, code: replayed });
        this.refuse(task, replayed);
      } else {
        this.hold(task, true);
        void this.execute(task);
      }
    }
  }

  private async execute(task: Task): Promise<void> {
    const { leaseId } = task;
    const held = this.held.get(leaseId)!;
    const started = performance.now();
    let result: TaskResult;
    let bytes = 0;
    try {
      const source = await Promise.race([this.functions.get(task.fnHash), rejectOnAbort(held.abort.signal)]);
      const outcome = await this.pool.run(task, source, held.abort.signal);
      if (outcome.ok) {
        result = { leaseId, ok: true, value: outcome.value };
        bytes = outcome.bytes;
      } else result = { leaseId, ok: false, error: outcome.error };
    } catch (err) {
      const e = coerceError(err);
      const code = errorCode(e);
      if (code === "fn_hash_mismatch" || code === "function_unavailable") result = { leaseId, ok: false, rejected: code };
      else {
        if (code === "unauthorized" || code === "forbidden") this.fail(e);
        const name = held.abort.signal.aborted ? "AbortError" : e.name;
        result = { leaseId, ok: false, error: toTaskError({ name, message: e.message }, code) };
      }
    }
    held.running = false;
    const ms = Math.round(performance.now() - started);
    this.log.info("task done", { jobId: task.jobId, ms, ok: result.ok, code: result.error?.code ?? result.rejected });
    this.report(result, bytes);
  }

  // --- results, heartbeats, shutdown ---

  private report(result: TaskResult, valueBytes: number): void {
    this.outbox.add(result, valueBytes);
    this.notify();
  }

  private acknowledged(results: TaskResult[], answer: ResultsResponse | null): void {
    this.reconnected();
    for (const r of results) this.held.delete(r.leaseId);
    this.log.debug("results sent", { count: results.length, accepted: answer?.accepted?.length, stale: answer?.stale?.length });
    this.notify();
  }

  private cancel(leaseId: string): void {
    const held = this.held.get(leaseId);
    if (!held?.running || held.abort.signal.aborted) return;
    this.log.info("task cancelled", { jobId: held.task.jobId });
    held.abort.abort(new AgentError("cancelled", "the coordinator cancelled the task"));
  }

  /** After polling stops: running tasks get the grace, then are aborted; results are flushed. */
  private async drain(): Promise<void> {
    const graceMs = this.config.shutdownGraceMs;
    const deadline = Date.now() + graceMs;
    const running = this.runningCount();
    if (running > 0 && !this.fatal) {
      this.log.info("waiting for running tasks", { count: running, graceMs });
      await this.until(() => this.runningCount() === 0 || this.fatal !== null, graceMs);
    }
    for (const held of this.held.values()) {
      if (held.running) held.abort.abort(new AgentError("agent_shutdown", "the agent shut down before the task finished"));
    }
    await this.until(() => this.runningCount() === 0, 5_000);
    if (this.fatal) return;
    this.outbox.flush();
    const flushMs = Math.max(5_000, deadline - Date.now());
    if (!(await this.until(() => this.held.size === 0 || this.fatal !== null, flushMs))) {
      this.log.warn("results not delivered", { count: this.outbox.size });
    }
  }
}
