// How many tasks the agent holds beyond its slots (--prefetch). A number is
// used as given. "auto" (the default) holds about PREFETCH_WORK_MS of work:
// the tasks this agent finished in the last window of that length. Short
// tasks then come many per request (a queue of 0.1 ms tasks fills the
// request's 256 slots); long ones are not hoarded — at one task a second
// nothing is held beyond the slots, so an idle agent elsewhere gets the work.

const PREFETCH_WORK_MS = 250;

export type PrefetchSetting = number | "auto";

export class Prefetch {
  private windowStart = 0;
  private inWindow = 0;
  private lastWindow = 0;

  constructor(
    private readonly setting: PrefetchSetting,
    private readonly max: number,
  ) {}

  /** A task finished. */
  done(now = Date.now()): void {
    if (this.setting !== "auto") return;
    this.roll(now);
    this.inWindow++;
  }

  /** Tasks to hold beyond the slots now. */
  current(now = Date.now()): number {
    if (this.setting !== "auto") return this.setting;
    this.roll(now);
    return Math.min(this.max, Math.max(this.lastWindow, this.inWindow));
  }

  private roll(now: number): void {
    if (now - this.windowStart < PREFETCH_WORK_MS) return;
    // A window with nothing in it between them means the agent was idle: start from scratch.
    this.lastWindow = now - this.windowStart < 2 * PREFETCH_WORK_MS ? this.inWindow : 0;
    this.inWindow = 0;
    this.windowStart = now;
  }
}
