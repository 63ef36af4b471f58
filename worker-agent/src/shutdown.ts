// Stopping the agent after polling has ended (the first SIGINT/SIGTERM, or a
// fatal error). Nothing the agent holds is left to a lease timeout:
//   1. tasks handed to the poll it abandoned go back to the queue at once
//      (release `unconfirmed`, which also ends that poll at the coordinator);
//   2. running tasks get the grace to finish and report as usual;
//   3. tasks still running then are aborted (their sandboxes killed) and their
//      leases released — not reported as failures, so no attempt is spent;
//   4. pending results are flushed.
// One log line per phase. A second signal skips all this (the CLI exits).

import type { AgentConfig } from "./config.js";
import { AgentError, errorCode } from "./errors.js";
import type { Heartbeats } from "./heartbeat.js";
import type { HttpClient } from "./http.js";
import type { Logger } from "./log.js";
import type { Held } from "./held-tasks.js";
import { releaseLeases, releaseUnconfirmed } from "./release.js";
import type { ResultsOutbox } from "./results-outbox.js";

/** How long the release of abandoned tasks waits for confirmations still in flight (they must not be released). */
const CONFIRM_WAIT_MS = 2_000;
/**
 * Time budget of each release call, retries included; shorter when the
 * coordinator is already known to be unreachable — the leases then expire on
 * their own, and an agent being stopped should not hang on a dead link.
 */
const RELEASE_BUDGET_MS = { reachable: 5_000, unreachable: 1_000 } as const;
/** How long aborted tasks get to end; the sandbox kills a task that ignores its signal well within this. */
const ABORT_WAIT_MS = 5_000;
/** Least time given to flushing results, even when the grace is used up. */
const MIN_FLUSH_MS = 5_000;

export interface ShutdownContext {
  config: Pick<AgentConfig, "queue" | "shutdownGraceMs">;
  log: Logger;
  http: HttpClient;
  /** Aborts only when the agent is exiting. */
  signal: AbortSignal;
  /** The agent's tasks by lease id, from receipt until their result is acknowledged. */
  held: Map<string, Held>;
  heartbeats: Heartbeats;
  outbox: ResultsOutbox;
  /** A fatal error (e.g. a refused token) ended polling: the coordinator will not listen. */
  failed: () => boolean;
  /** Waits until `done()` holds or `ms` pass; woken whenever a task or result changes state. */
  until: (done: () => boolean, ms: number) => Promise<boolean>;
  /** Whether the coordinator answered the last request made to it. */
  reachable: () => boolean;
  /** A release try failed and will be retried. */
  onRetry: (err: unknown) => void;
}

function releaseOptions(ctx: ShutdownContext) {
  const budgetMs = ctx.reachable() ? RELEASE_BUDGET_MS.reachable : RELEASE_BUDGET_MS.unreachable;
  return { signal: ctx.signal, budgetMs, onRetry: ctx.onRetry };
}

function running(held: Map<string, Held>): Held[] {
  return [...held.values()].filter((h) => h.running);
}

/** Tasks handed to a poll this agent abandoned go back to the queue; the poll itself ends if still parked. */
async function releaseAbandoned(ctx: ShutdownContext): Promise<void> {
  // A task accepted just before the stop is this agent's to finish: its confirmation must land first.
  await ctx.heartbeats.confirmed(CONFIRM_WAIT_MS);
  try {
    const { released } = await releaseUnconfirmed(ctx.http, ctx.config.queue, releaseOptions(ctx));
    ctx.log.info("released unconfirmed tasks", { count: released.length });
  } catch (err) {
    ctx.log.warn("could not release unconfirmed tasks", { code: errorCode(err) });
  }
}

/** Aborts the tasks still running and hands their leases back. */
async function releaseRunning(ctx: ShutdownContext): Promise<void> {
  const left = running(ctx.held);
  if (left.length === 0) return;
  const reason = new AgentError("agent_shutdown", "the agent shut down before the task finished");
  for (const held of left) {
    held.releasing = true;
    held.cancel.abort(reason);
  }
  if (ctx.failed()) return;
  try {
    const answer = await releaseLeases(ctx.http, left.map((h) => h.task), releaseOptions(ctx));
    ctx.log.info("released running tasks", { count: answer.released.length, stale: answer.stale.length });
  } catch (err) {
    // The leases then expire on their own and the tasks are retried elsewhere.
    ctx.log.warn("could not release running tasks", { count: left.length, code: errorCode(err) });
  }
}

export async function shutdown(ctx: ShutdownContext): Promise<void> {
  const { log, held, until, outbox } = ctx;
  const graceMs = ctx.config.shutdownGraceMs;
  const deadline = Date.now() + graceMs;
  const abandoned = ctx.failed() ? Promise.resolve() : releaseAbandoned(ctx);

  const count = running(held).length;
  if (count > 0 && !ctx.failed()) {
    log.info("waiting for running tasks", { count, graceMs });
    await until(() => running(held).length === 0 || ctx.failed(), deadline - Date.now());
  }
  await releaseRunning(ctx);
  await until(() => running(held).length === 0, ABORT_WAIT_MS);
  await abandoned;
  if (ctx.failed()) return;

  outbox.flush();
  if (!(await until(() => held.size === 0 || ctx.failed(), Math.max(MIN_FLUSH_MS, deadline - Date.now())))) {
    log.warn("results not delivered", { count: outbox.size });
  }
}
