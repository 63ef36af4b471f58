// Watching a sandbox child's resident memory. The heap limit
// (--max-old-space-size) does not cover memory outside the JS heap —
// ArrayBuffers, typed arrays, WebAssembly memories — so while a task runs
// the pool reads the child's resident set size and kills a child that grows
// past its limit. Linux only (/proc); elsewhere the heap limit is all there is.

import { readFile } from "node:fs/promises";

/** Resident memory of `pid` in MB, or null where /proc is not available. */
export async function residentMb(pid: number): Promise<number | null> {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Calls `onExceeded` once if `pid` holds more than `limitMb` resident, checking
 * every `intervalMs`. Returns a function that stops the watch.
 */
export function watchMemory(pid: number, limitMb: number, onExceeded: (mb: number) => void, intervalMs = 100): () => void {
  let stopped = false;
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    void residentMb(pid).then((mb) => {
      reading = false;
      if (mb === null) {
        stop();
        return;
      }
      if (!stopped && mb > limitMb) {
        stop();
        onExceeded(mb);
      }
    });
  }, intervalMs);
  timer.unref();
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
