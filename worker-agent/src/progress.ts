// The latest ctx.progress() of each running task, until a heartbeat or an
// exchange carries it to the coordinator. Only the newest report per lease is
// kept: a task calling progress in a tight loop costs one entry, not a queue.

import type { TaskProgress } from "../../src/protocol/client.js";

export class ProgressReports {
  private readonly latest = new Map<string, TaskProgress>();

  /** Records a task's report (already checked by the sandbox), replacing any not yet sent. */
  set(leaseId: string, fraction: number, message?: string): void {
    this.latest.set(leaseId, message === undefined ? { leaseId, fraction } : { leaseId, fraction, message });
  }

  /** The lease ended: what it reported is of no more use. */
  drop(leaseId: string): void {
    this.latest.delete(leaseId);
  }

  /** Takes up to `max` reports to send; the rest stay for the next request. */
  take(max: number): TaskProgress[] {
    const out: TaskProgress[] = [];
    for (const [leaseId, p] of this.latest) {
      if (out.length >= max) break;
      out.push(p);
      this.latest.delete(leaseId);
    }
    return out;
  }

  /** Puts back reports whose request failed, unless a newer one came meanwhile. */
  giveBack(reports: TaskProgress[], holds: (leaseId: string) => boolean): void {
    for (const p of reports) if (holds(p.leaseId) && !this.latest.has(p.leaseId)) this.latest.set(p.leaseId, p);
  }
}
