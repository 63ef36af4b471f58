// Heartbeats: while tasks run, the agent tells the coordinator every
// `intervalMs` which leases it is still working on. That keeps long tasks'
// leases alive, and the answer names leases that were cancelled or went
// stale, so the agent can abort them instead of finishing work nobody wants.

import { LIMITS, type HeartbeatResponse } from "../../src/protocol/client.js";
import { sleep } from "./backoff.js";

export interface HeartbeatOptions {
  intervalMs: number;
  /** Ends the loop. */
  signal: AbortSignal;
  /** Leases of the tasks running now. */
  running: () => string[];
  /** One POST /v1/agent/heartbeat; throws on failure. */
  send: (leaseIds: string[]) => Promise<HeartbeatResponse | null>;
  /** Leases to abort: cancelled by a submitter, or no longer this agent's. */
  onAbort: (leaseId: string) => void;
  onAnswer: () => void;
  /** A failed heartbeat is not retried: the next one follows in `intervalMs`. */
  onError: (err: unknown) => void;
}

export async function heartbeatLoop(opts: HeartbeatOptions): Promise<void> {
  const { signal } = opts;
  while (!signal.aborted) {
    await sleep(opts.intervalMs, signal);
    const running = opts.running();
    for (let i = 0; i < running.length && !signal.aborted; i += LIMITS.maxItemsPerRequest) {
      try {
        const answer = await opts.send(running.slice(i, i + LIMITS.maxItemsPerRequest));
        opts.onAnswer();
        for (const id of [...(answer?.cancelled ?? []), ...(answer?.stale ?? [])]) opts.onAbort(id);
      } catch (err) {
        if (!signal.aborted) opts.onError(err);
      }
    }
  }
}
