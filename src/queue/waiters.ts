// In-memory waiters of one queue object: agents long-polling for work and
// submitters long-polling for results. They live only as long as the object
// is in memory; a waiter lost with it is simply a poll that ends early, and
// the client polls again.

import type { Task } from "../protocol/index.js";

export interface PollWaiter {
  queue: string;
  agentId: string;
  slots: number;
  /** Hands the poller its tasks; an empty list when the wait ran out. */
  wake: (tasks: Task[]) => void;
}

export class Waiters {
  private readonly pollers: PollWaiter[] = [];
  private readonly resultWaiters = new Map<string, Set<() => void>>();

  /** Waits up to `ms` for tasks claimed on this poller's behalf. */
  waitForWork(queue: string, agentId: string, slots: number, ms: number): Promise<Task[]> {
    return new Promise((resolve) => {
      const waiter: PollWaiter = {
        queue,
        agentId,
        slots,
        wake: (tasks) => {
          clearTimeout(timer);
          const i = this.pollers.indexOf(waiter);
          if (i >= 0) this.pollers.splice(i, 1);
          resolve(tasks);
        },
      };
      const timer = setTimeout(() => waiter.wake([]), ms);
      this.pollers.push(waiter);
    });
  }

  /** Ends the parked polls of one agent (it said it is going away). */
  dropAgent(agentId: string): void {
    for (const poller of this.pollers.filter((p) => p.agentId === agentId)) poller.wake([]);
  }

  /** The pollers in arrival order (oldest first). */
  waitingPollers(): readonly PollWaiter[] {
    return this.pollers;
  }

  /** Waits up to `ms` for a new result in `batchId`. */
  waitForResult(batchId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.resultWaiters.get(batchId);
      if (!set) this.resultWaiters.set(batchId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.resultWaiters.delete(batchId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  notifyResult(batchId: string): void {
    const set = this.resultWaiters.get(batchId);
    if (set) for (const done of [...set]) done();
  }
}
