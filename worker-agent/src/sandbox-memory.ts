// Watching a sandbox child's resident memory. The heap limit
// (--max-old-space-size) does not cover memory outside the JS heap —
// ArrayBuffers, typed arrays, WebAssembly memories — so while a child has
// work the pool reads its resident set size and kills it past its limit
// (sandbox-slot.ts). Linux only (/proc); elsewhere the heap limit is all there is.

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
