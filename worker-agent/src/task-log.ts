// The "task done" lines. An agent serving a few tasks logs each one; one
// serving thousands a second would spend more on its log than on some tasks,
// and nobody reads such a log line by line. So each second the first
// PER_SECOND successful tasks get their line and the rest are summed up in one
// "tasks done" line when the second is over. A failed task always gets its line.

import type { LogFields, Logger } from "./log.js";

const PER_SECOND = 20;

export class TaskLog {
  private windowStart = 0;
  private logged = 0;
  private skipped = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger) {}

  /** `fields` is called only when the task gets its own line. */
  done(ok: boolean, fields: () => LogFields): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.summarize();
      this.windowStart = now;
      this.logged = 0;
    }
    if (!ok || this.logged < PER_SECOND) {
      this.logged++;
      this.log.info("task done", { ...fields(), ok });
      return;
    }
    this.skipped++;
    this.timer ??= setTimeout(() => this.summarize(), Math.max(0, this.windowStart + 1000 - now));
    this.timer.unref();
  }

  /** Logs the tasks not logged one by one since the last summary. */
  summarize(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.skipped === 0) return;
    this.log.info("tasks done", { ok: this.skipped, unlisted: true });
    this.skipped = 0;
  }
}
