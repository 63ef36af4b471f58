// Waiting for the agent's state to change: code that frees a slot, finishes a
// task or gets a result acknowledged calls notify(); code that waits for a
// condition (a free slot, no running tasks, an empty outbox) calls until(),
// which re-checks on every notify and gives up after a time limit.

import { sleep } from "./backoff.js";

export class Changes {
  private waiters: Array<() => void> = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until `done()` holds or `ms` pass; true if it holds. */
  until = async (done: () => boolean, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const timer = new AbortController();
      await Promise.race([new Promise<void>((wake) => this.waiters.push(wake)), sleep(left, timer.signal)]);
      timer.abort();
    }
    return true;
  };
}
