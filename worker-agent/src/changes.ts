// Waiting for the agent's state to change: code that frees a slot, finishes a
// task or gets a result acknowledged calls notify(); code that waits for a
// condition (a free slot, no running tasks, an empty outbox) calls until(),
// which re-checks on every notify and gives up after a time limit. A waiter
// holds one timer for its whole wait: notify() runs once per finished task,
// so it only re-tests the conditions.

export class Changes {
  private readonly checks = new Set<() => void>();

  notify(): void {
    for (const check of [...this.checks]) check();
  }

  /** Waits until `done()` holds or `ms` pass; true if it holds. */
  until = (done: () => boolean, ms: number): Promise<boolean> => {
    if (done()) return Promise.resolve(true);
    if (!(ms > 0)) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.checks.delete(check);
        resolve(result);
      };
      const check = (): void => {
        if (done()) finish(true);
      };
      const timer = setTimeout(() => finish(done()), Math.min(ms, 2 ** 31 - 1));
      this.checks.add(check);
    });
  };
}
