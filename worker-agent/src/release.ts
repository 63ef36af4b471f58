// Handing leases back: POST /v1/agent/release returns tasks to their queue at
// once, available immediately and without spending an attempt. The agent uses
// it when it stops: for tasks handed to a poll it abandoned (`unconfirmed`,
// which also ends that poll if the coordinator still has it parked) and for
// tasks still running when the shutdown grace runs out. Each call gets a
// bounded time budget: a release that cannot be delivered is not worth
// delaying the exit for, since the leases then simply expire.

import { LIMITS } from "../../src/protocol/client.js";
import { retry } from "./backoff.js";
import type { HttpClient } from "./http.js";
import { isRetryable } from "./http.js";

/**
 * The answer of POST /v1/agent/release. Defined here rather than imported:
 * the route is new and its type lands in src/protocol with the coordinator's
 * change. Same shape: { released, stale }.
 */
export interface ReleaseResponse {
  released: string[];
  stale: string[];
}

export interface ReleaseOptions {
  /** Ends the retries early (the agent is exiting at once). */
  signal: AbortSignal;
  /** Total time for all tries of one call. */
  budgetMs: number;
  onRetry?: (err: unknown) => void;
}

/** One release call, retried on retryable failures until it succeeds or its budget is spent (then it throws). */
async function releaseOnce(
  http: HttpClient,
  body: { queue: string; leaseIds: string[]; unconfirmed?: boolean },
  opts: ReleaseOptions,
): Promise<ReleaseResponse> {
  const deadline = Date.now() + opts.budgetMs;
  // A timer of our own, not AbortSignal.any([signal, AbortSignal.timeout()]): in Node 20 the timeout
  // signal inside any() can be garbage collected before it fires (nodejs/node#57736), and the retries
  // then went on for as long as the coordinator stayed down — an agent stopped while it was
  // unreachable sometimes never exited.
  const budget = new AbortController();
  const stop = (): void => budget.abort();
  const timer = setTimeout(stop, opts.budgetMs);
  if (opts.signal.aborted) stop();
  else opts.signal.addEventListener("abort", stop, { once: true });
  try {
    const answer = await retry(
      async () =>
        (await http.request<ReleaseResponse>("POST", "/v1/agent/release", body, { signal: budget.signal, timeoutMs: Math.max(1, deadline - Date.now()) })).body,
      { signal: budget.signal, isRetryable, onRetry: opts.onRetry },
    );
    return { released: answer?.released ?? [], stale: answer?.stale ?? [] };
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", stop);
  }
}

/** Releases every lease this agent was handed on `queue` but never confirmed, and ends its parked poll there. */
export function releaseUnconfirmed(http: HttpClient, queue: string, opts: ReleaseOptions): Promise<ReleaseResponse> {
  return releaseOnce(http, { queue, leaseIds: [], unconfirmed: true }, opts);
}

/** Releases the named leases, one request per queue and per LIMITS.maxItemsPerRequest of them. */
export async function releaseLeases(
  http: HttpClient,
  leases: Array<{ leaseId: string; queue: string }>,
  opts: ReleaseOptions,
): Promise<ReleaseResponse> {
  const byQueue = new Map<string, string[]>();
  for (const { leaseId, queue } of leases) byQueue.set(queue, [...(byQueue.get(queue) ?? []), leaseId]);
  const calls: Array<Promise<ReleaseResponse>> = [];
  for (const [queue, ids] of byQueue) {
    for (let i = 0; i < ids.length; i += LIMITS.maxItemsPerRequest) {
      calls.push(releaseOnce(http, { queue, leaseIds: ids.slice(i, i + LIMITS.maxItemsPerRequest) }, opts));
    }
  }
  const answers = await Promise.all(calls);
  return { released: answers.flatMap((a) => a.released), stale: answers.flatMap((a) => a.stale) };
}
