// What every adversarial group needs around its cases: a scope that stops
// everything the group started (coordinators, proxies, agents by PID),
// whatever happened, and bounded waits.

import type { AgentProc } from "../helpers/agent.js";
import { childPids, reap } from "../faults/harness.js";

const open = new Set<Scope>();

/** What one group started; close() stops it all, newest first, and never throws. */
export class Scope {
  private readonly stops: Array<() => Promise<unknown>> = [];
  constructor() {
    open.add(this);
  }
  add<T>(thing: T, stop: (thing: T) => Promise<unknown> | unknown): T {
    this.stops.push(async () => stop(thing));
    return thing;
  }
  async close(): Promise<void> {
    open.delete(this);
    for (const stop of this.stops.splice(0).reverse()) await stop().catch(() => {});
  }
}

/** For afterAll: stops whatever a group that failed or timed out left running. */
export async function closeAllScopes(): Promise<void> {
  for (const scope of [...open]) await scope.close();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Stops an agent (SIGTERM, then SIGKILL) and then, by PID, any sandbox
 * process of its that outlived it: an escape that wedged its sandbox must
 * not outlive the test.
 */
export async function stopAgent(agent: AgentProc): Promise<void> {
  const children = childPids(agent.pid);
  await agent.stop();
  await reap(children, 1_000);
}
