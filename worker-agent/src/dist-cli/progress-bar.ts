// The progress line `dist submit --watch` and `dist watch` draw on stderr:
// done / failed / running, rate and ETA. Redrawn in place on a terminal,
// printed every few seconds otherwise.

export interface Progress {
  total: number;
  done: number;
  failed: number;
  running: number;
}

const WIDTH = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** One line: `[#####-----] 120/1000 · 3 failed · 8 running · 45.2/s · ETA 19s`. */
export function renderProgress(p: Progress, elapsedMs: number): string {
  const finished = p.done + p.failed;
  const fraction = p.total ? finished / p.total : 0;
  const filled = Math.round(fraction * WIDTH);
  const rate = elapsedMs > 0 ? finished / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (p.total - finished) / rate : Infinity;
  return (
    `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${finished}/${p.total}` +
    ` · ${p.failed} failed · ${p.running} running · ${rate.toFixed(1)}/s · ` +
    (finished === p.total ? `done in ${formatDuration(elapsedMs / 1000)}` : `ETA ${formatDuration(eta)}`)
  );
}

export class ProgressBar {
  private lastPrinted = 0;
  private readonly started = Date.now();

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  draw(p: Progress, final = false): void {
    const line = renderProgress(p, Date.now() - this.started);
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    } else if (final || Date.now() - this.lastPrinted >= 2000) {
      this.lastPrinted = Date.now();
      this.out.write(line + "\n");
    }
  }
}
