// One request of the agent's main loop (poll-loop.ts): a POST /v1/agent/poll
// (--no-exchange), or a POST /v1/agent/exchange carrying results,
// confirmations and progress with the poll. Each accepts the tasks it gets
// (held-tasks.ts) and tells the loop whether to go on, back off or stop.

import { LIMITS, type ExchangeBody, type ExchangeResponse } from "../../src/protocol/client.js";
import { retry, sleep, type RetryOptions } from "./backoff.js";
import type { AgentConfig } from "./config.js";
import { AgentError } from "./errors.js";
import type { Heartbeats } from "./heartbeat.js";
import type { HeldTasks } from "./held-tasks.js";
import { isRetryable, retryAfterMs, type HttpClient } from "./http.js";
import type { ProgressReports } from "./progress.js";
import type { Lent, ResultsOutbox } from "./results-outbox.js";
import type { Verifier } from "./verifier.js";

/** An empty poll answered faster than this is followed by a pause, so `--wait 0` cannot spin. */
const MIN_EMPTY_POLL_MS = 1_000;

/** What a request needs of the agent. */
export interface CycleContext {
  readonly config: AgentConfig;
  readonly http: HttpClient;
  /** Sent with every poll; an envelope that does not echo it was not issued to this run. */
  readonly session: string;
  /** Aborted by stop(): ends polling. */
  readonly stopSignal: AbortSignal;
  /** Aborted at the very end of the agent's run. */
  readonly endSignal: AbortSignal;
  readonly heartbeats: Heartbeats;
  readonly progress: ProgressReports;
  readonly outbox: ResultsOutbox;
  readonly tasks: HeldTasks;
  /** An exchange is parked in a long-poll: results finishing meanwhile are sent on their own. */
  parked: boolean;
  verifier(): Verifier;
  retryOptions(signal: AbortSignal): RetryOptions;
  reconnected(): void;
  unreachable(err: unknown): void;
  fail(err: unknown): void;
}

/** One POST /v1/agent/poll (retried until answered); "stop" on a fatal error or stop(). */
export async function pollOnce(ctx: CycleContext, slots: number): Promise<"ok" | "stop"> {
  const signal = ctx.stopSignal;
  const { waitSeconds, queue, labels } = ctx.config;
  const body = { slots, wait: waitSeconds, queue, session: ctx.session, ...(labels.length ? { labels } : {}) };
  const started = Date.now();
  let answer;
  try {
    answer = await retry(
      () => ctx.http.request("POST", "/v1/agent/poll", body, { signal, timeoutMs: waitSeconds * 1000 + 15_000 }),
      ctx.retryOptions(signal),
    );
  } catch (err) {
    if (!signal.aborted) ctx.fail(err);
    return "stop";
  }
  ctx.reconnected();
  if (answer.status === 200) await ctx.tasks.accept(ctx.verifier(), answer.body);
  else if (Date.now() - started < MIN_EMPTY_POLL_MS) await sleep(MIN_EMPTY_POLL_MS - (Date.now() - started), signal);
  return "ok";
}

/**
 * One POST /v1/agent/exchange: the lent results, outstanding confirmations
 * and progress, and a poll for `slots` tasks. Carrying results it does not
 * park (wait 0): their acknowledgement should not wait on an empty queue.
 * A failure hands everything back to the outbox and heartbeats, which retry
 * on their own; the loop then waits its backoff ("retry").
 */
export async function exchangeOnce(ctx: CycleContext, slots: number, lent: Lent | null): Promise<"ok" | "retry" | "stop"> {
  const results = lent?.results ?? [];
  // stop() ends a parked long-poll, but not a short exchange carrying results: they would be sent twice.
  const signal = results.length > 0 ? ctx.endSignal : ctx.stopSignal;
  const { waitSeconds, queue } = ctx.config;
  const leaseIds = ctx.heartbeats.takeConfirmations(new Set(results.map((r) => r.leaseId)));
  const progress = ctx.progress.take(LIMITS.maxItemsPerRequest);
  const wait = results.length > 0 ? 0 : waitSeconds;
  const body: ExchangeBody = { queue, session: ctx.session, slots, wait };
  if (results.length > 0) body.results = results;
  if (leaseIds.length > 0) body.leaseIds = leaseIds;
  if (progress.length > 0) body.progress = progress;
  const started = Date.now();
  let answer: ExchangeResponse | null;
  // Parked, this request cannot carry results that finish meanwhile: the outbox sends them.
  ctx.parked = wait > 0;
  if (ctx.parked) ctx.outbox.schedule();
  try {
    answer = (await ctx.http.request<ExchangeResponse>("POST", "/v1/agent/exchange", body, { signal, timeoutMs: wait * 1000 + 15_000 })).body;
    if (!answer?.results || !answer.heartbeat) throw new AgentError("bad_response", "the exchange answer lacks results or heartbeat");
  } catch (err) {
    ctx.parked = false;
    lent?.failed();
    ctx.heartbeats.confirmationsDone(leaseIds, false);
    ctx.progress.giveBack(progress, (id) => ctx.tasks.isRunning(id));
    if (ctx.stopSignal.aborted) return "stop";
    if (!isRetryable(err)) {
      ctx.fail(err);
      return "stop";
    }
    ctx.unreachable(err);
    if (retryAfterMs(err) > 0) await sleep(retryAfterMs(err), ctx.stopSignal);
    return "retry";
  }
  ctx.parked = false;
  ctx.reconnected();
  // Results first: a lease just reported comes back stale from the heartbeat part, and is no longer held.
  lent?.sent(answer.results);
  ctx.heartbeats.confirmationsDone(leaseIds, true);
  for (const id of [...(answer.heartbeat.cancelled ?? []), ...(answer.heartbeat.stale ?? [])]) ctx.tasks.cancel(id);
  if (answer.envelope) await ctx.tasks.accept(ctx.verifier(), answer.envelope);
  else if (!lent && Date.now() - started < MIN_EMPTY_POLL_MS) await sleep(MIN_EMPTY_POLL_MS - (Date.now() - started), ctx.stopSignal);
  return "ok";
}
