// The agent's main loop. One request in flight at a time asks for as many
// tasks as there are free slots; each answer is verified, its tasks run in the
// sandbox pool, and results go back in batches. A task holds its slot from
// the moment it arrives until the coordinator has acknowledged its result, so
// the coordinator never sees this agent holding more than `concurrency` leases
// plus the prefetch (prefetch.ts: tasks held beyond that wait in the pool for
// a free slot). Each cycle is one POST /v1/agent/exchange carrying the ripe
// results (results-outbox.ts) and confirmations along with the poll; the
// coordinator records the results before it hands out tasks, so their slots
// count as free. With --no-exchange the agent long-polls POST /v1/agent/poll
// and the outbox posts results apart.
// Accepted tasks are confirmed at once (see heartbeat.ts); stopping is in
// shutdown.ts. Before anything else the agent enrolls (enroll.ts) and makes
// a session nonce that every envelope it runs must echo.

import { fileURLToPath } from "node:url";
import {
  LIMITS, randomId, type HeartbeatResponse, type ResultsResponse, type TaskResult,
} from "../../src/protocol/client.js";
import { backoffDelay, retry, sleep, type RetryOptions } from "./backoff.js";
import { Changes } from "./changes.js";
import { AGENT_VERSION, type AgentConfig } from "./config.js";
import { exchangeOnce, pollOnce, type CycleContext } from "./cycle.js";
import { enrollAgent } from "./enroll.js";
import { AgentError, coerceError, errorCode } from "./errors.js";
import { FunctionCache } from "./functions.js";
import { HeldTasks } from "./held-tasks.js";
import { confirmDelayFor, Heartbeats } from "./heartbeat.js";
import { HttpClient, isRetryable, retryAfterMs } from "./http.js";
import type { Logger } from "./log.js";
import { ProgressReports } from "./progress.js";
import { ResultsOutbox } from "./results-outbox.js";
import { SandboxPool } from "./sandbox.js";
import { shutdown } from "./shutdown.js";
import { SubmitterTrust } from "./trust.js";
import { Prefetch } from "./prefetch.js";
import { TaskLog } from "./task-log.js";
import { Verifier } from "./verifier.js";

/**
 * See heartbeat.ts: how long a confirmation waits when the envelope does not give the delivery
 * lease (older coordinators); well inside theirs (10 s by default). Envelopes that give it get a
 * fifth of it (2 s by default).
 */
const CONFIRM_DELAY_MS = 200;
/**
 * Results wait at most this long for others to share their request, and only
 * while other tasks still run (see results-outbox.ts); the request goes as
 * soon as `batchTarget` results are in. An idle agent's one result goes at once.
 */
const RESULT_LINGER_MS = 50;
/**
 * Results (and tasks asked for) per request aimed at: seven eighths of the tasks an agent may
 * hold, at most this many; the eighth still held covers the request's round trip, and an agent
 * about to run dry asks anyway. Bench (alternated runs): half, at most 128, gave ~70 jobs a
 * request; three quarters ~80; seven eighths ~95, with less CPU per job in each of 6 pairs.
 */
const MAX_BATCH_TARGET = 224;

export interface AgentOptions {
  /** The built sandbox-child.js; defaults to the one next to this bundle. */
  childPath?: string;
}

export class Agent {
  private readonly http: HttpClient;
  private readonly pool: SandboxPool;
  private readonly functions: FunctionCache;
  private verifier: Verifier | null = null;
  private trust: SubmitterTrust | null = null;
  private readonly tasks: HeldTasks;
  private readonly outbox: ResultsOutbox;
  private readonly heartbeats: Heartbeats;
  /** Aborted by stop(): ends polling. */
  private readonly stopCtl = new AbortController();
  /** Aborted at the very end: ends heartbeats, function fetches and result retries. */
  private readonly endCtl = new AbortController();
  private readonly changes = new Changes();
  private readonly progress = new ProgressReports();
  private readonly taskLog: TaskLog;
  private fatal: Error | null = null;
  private reachable = true;
  /** What one request of the loop needs (cycle.ts); also says whether an exchange is parked. */
  private readonly cycle: CycleContext;
  private readonly prefetch: Prefetch;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    opts: AgentOptions = {},
  ) {
    this.taskLog = new TaskLog(log);
    this.http = new HttpClient({ url: config.url, userAgent: `dist-agent/${AGENT_VERSION}` });
    this.pool = new SandboxPool({
      childPath: opts.childPath ?? fileURLToPath(new URL("./sandbox-child.js", import.meta.url)),
      size: config.concurrency,
      maxMemoryMb: config.maxMemoryMb,
      nice: config.nice,
      allowNet: config.allowNet,
    });
    const endSignal = this.endCtl.signal;
    this.prefetch = new Prefetch(config.prefetch, Math.max(0, LIMITS.maxSlots - config.concurrency));
    this.outbox = new ResultsOutbox({
      send: async (results) =>
        (await this.http.request<ResultsResponse>("POST", "/v1/agent/results", { results }, { signal: endSignal, timeoutMs: 60_000 })).body,
      retry: this.retryOptions(endSignal),
      onSent: (results, answer) => this.acknowledged(results, answer),
      onFatal: (err) => this.fail(err),
      lingerMs: RESULT_LINGER_MS,
      batchTarget: () => this.batchTarget(),
      othersRunning: () => this.tasks.unfinished > 0,
      carried: () => config.exchange && this.reachable && !this.cycle.parked,
    });
    this.heartbeats = new Heartbeats({
      intervalMs: config.heartbeatMs,
      confirmDelayMs: CONFIRM_DELAY_MS,
      signal: endSignal,
      running: () => this.tasks.runningLeases(),
      holds: (leaseId) => this.tasks.has(leaseId),
      takeProgress: () => this.progress.take(LIMITS.maxItemsPerRequest),
      returnProgress: (reports) => this.progress.giveBack(reports, (id) => this.tasks.isRunning(id)),
      send: async (leaseIds, progress) => {
        const body = progress.length > 0 ? { leaseIds, progress } : { leaseIds };
        return (await this.http.request<HeartbeatResponse>("POST", "/v1/agent/heartbeat", body, { signal: endSignal, timeoutMs: 15_000 })).body;
      },
      onAbort: (leaseId) => this.tasks.cancel(leaseId),
      onAnswer: () => this.reconnected(),
      onError: (err) => (isRetryable(err) ? this.unreachable(err) : this.fail(err)),
    });
    this.tasks = new HeldTasks({
      log,
      taskLog: this.taskLog,
      heartbeats: this.heartbeats,
      progress: this.progress,
      prefetch: this.prefetch,
      changes: this.changes,
      report: (result, bytes) => this.report(result, bytes),
      confirmDelay: (confirmWithinMs) => confirmDelayFor(confirmWithinMs, CONFIRM_DELAY_MS),
      runContext: () => ({ functions: this.functions, pool: this.pool, trust: this.trust, log: this.log, onFatal: (err: Error) => this.fail(err) }),
    });
    this.functions = new FunctionCache((fnHash) =>
      retry(
        async () => (await this.http.request("GET", `/v1/agent/functions/${fnHash}`, undefined, { signal: endSignal, timeoutMs: 60_000 })).body,
        this.retryOptions(endSignal),
      ),
    );
    this.cycle = {
      config, http: this.http, session: randomId(24), stopSignal: this.stopCtl.signal, endSignal,
      heartbeats: this.heartbeats, progress: this.progress, outbox: this.outbox, tasks: this.tasks, parked: false,
      verifier: () => this.verifier!,
      retryOptions: (signal) => this.retryOptions(signal),
      reconnected: () => this.reconnected(),
      unreachable: (err) => this.unreachable(err),
      fail: (err) => this.fail(err),
    };
  }

  /** Serves tasks until stop() (resolves) or a fatal error such as a refused token or a revoked agent (rejects). */
  async run(): Promise<void> {
    this.trust = await SubmitterTrust.create(this.config.trustedSubmitters);
    const agentId = await enrollAgent(this.http, this.config, this.retryOptions(this.stopCtl.signal));
    if (agentId === null) return this.http.close(); // stopped before enrolling
    this.reconnected();
    this.verifier = await Verifier.create({ publicKeys: this.config.publicKeys, agentId, session: this.cycle.session, clockSkewMs: this.config.clockSkewMs });
    await this.pool.start();
    const { queue, concurrency, url, allowNet, publicKeys, trustedSubmitters } = this.config;
    const keys = publicKeys.length;
    this.log.info("ready", { agentId, queue, concurrency, url: new URL(url).origin, version: AGENT_VERSION, keys, trustedSubmitters: trustedSubmitters.length, allowNet });
    const heartbeats = this.heartbeats.run();
    try {
      await this.pollLoop();
      await shutdown({
        config: this.config,
        log: this.log,
        http: this.http,
        signal: this.endCtl.signal,
        held: this.tasks.held,
        heartbeats: this.heartbeats,
        outbox: this.outbox,
        failed: () => this.fatal !== null,
        until: this.changes.until,
        reachable: () => this.reachable,
        onRetry: (err) => this.unreachable(err),
      });
    } finally {
      this.endCtl.abort();
      await Promise.all([heartbeats, this.outbox.settled()]);
      this.taskLog.summarize();
      await this.pool.close();
      this.http.close();
    }
    if (this.fatal) throw this.fatal;
  }

  /** Stops polling; run() then hands back what it cannot finish within the grace, flushes results and resolves. */
  stop(): void {
    if (this.stopCtl.signal.aborted) return;
    this.stopCtl.abort();
    this.changes.notify();
  }

  private fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = coerceError(err);
    this.stop();
  }

  // --- connection state: logged once per change, not once per try ---

  private retryOptions(signal: AbortSignal): RetryOptions {
    return { signal, isRetryable, onRetry: (err) => this.unreachable(err), minDelay: retryAfterMs };
  }

  private unreachable(err: unknown): void {
    // A 429 is the coordinator asking for patience, not a lost connection; the retry waits its Retry-After.
    if (err instanceof AgentError && err.status === 429) {
      this.log.debug("rate limited", { retryAfterMs: retryAfterMs(err) });
      return;
    }
    if (!this.reachable) return;
    this.reachable = false;
    this.outbox.schedule(); // no exchange carries results while the coordinator is away
    this.log.warn("coordinator unreachable", { code: errorCode(err), retrying: true });
  }

  private reconnected(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.log.info("reconnected");
    this.outbox.nudge();
    this.changes.notify();
  }

  /**
   * No new work while results wait: when the outbox is full, or while the
   * coordinator is unreachable and results are pending (they go first).
   */
  private holdingBack(): boolean {
    return this.outbox.full || (!this.reachable && this.outbox.size > 0);
  }

  // --- polling and accepting work ---

  private async pollLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    const { concurrency, exchange } = this.config;
    let failures = 0;
    while (!signal.aborted) {
      const capacity = this.capacity();
      const carry = exchange && this.reachable && this.outbox.lendable && this.outbox.ripe;
      // Results carried are recorded before the coordinator hands out tasks: their slots count as free.
      const free = capacity - this.tasks.size + (carry ? Math.min(this.outbox.pendingCount, LIMITS.maxItemsPerRequest) : 0);
      const slots = this.holdingBack() ? 0 : Math.max(0, Math.min(free, LIMITS.maxSlots));
      // Ask when the sandboxes would otherwise run dry, or for a batch's worth of tasks at a time.
      const wantTasks = slots > 0 && (this.tasks.unfinished < concurrency || slots >= this.batchTarget());
      if (!carry && !wantTasks) {
        if (this.outbox.full) this.log.debug("outbox full; taking no new work", { results: this.outbox.size });
        await this.changes.until(
          () => signal.aborted || this.worthARequest(),
          Math.min(60_000, exchange ? Math.max(1, this.outbox.msUntilRipe()) : Infinity),
        );
        continue;
      }
      const outcome = exchange ? await exchangeOnce(this.cycle, wantTasks ? slots : 0, carry ? this.outbox.lend() : null) : await pollOnce(this.cycle, slots);
      if (outcome === "stop") return;
      if (outcome === "retry") {
        await sleep(backoffDelay(failures++), signal);
        continue;
      }
      failures = 0;
    }
  }

  /** The loop's test of whether to send anything, for waking it (the loop itself computes the details). */
  private worthARequest(): boolean {
    if (this.config.exchange && this.reachable && this.outbox.lendable && this.outbox.ripe) return true;
    const slots = this.holdingBack() ? 0 : this.capacity() - this.tasks.size;
    return slots > 0 && (this.tasks.unfinished < this.config.concurrency || slots >= this.batchTarget());
  }

  /** Tasks this agent may hold: its slots and what it prefetches now. */
  private capacity(): number {
    return this.config.concurrency + this.prefetch.current();
  }

  /** Results (and tasks asked for) per request aimed at: seven eighths of what the agent may hold, at most MAX_BATCH_TARGET. */
  private batchTarget(): number {
    return Math.max(1, Math.min(MAX_BATCH_TARGET, Math.floor((this.capacity() * 7) / 8)));
  }

  // --- results, heartbeats, shutdown ---

  private report(result: TaskResult, valueBytes: number): void {
    this.outbox.add(result, valueBytes);
    this.changes.notify();
  }

  private acknowledged(results: TaskResult[], answer: ResultsResponse | null): void {
    this.reconnected();
    this.tasks.acknowledged(results);
    this.log.debug("results sent", { count: results.length, accepted: answer?.accepted?.length, stale: answer?.stale?.length });
    this.changes.notify();
  }
}
