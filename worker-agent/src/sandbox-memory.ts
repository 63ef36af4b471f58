// Watching a sandbox child's resident memory. The heap limit
// (--max-old-space-size) does not cover memory outside the JS heap —
// ArrayBuffers, typed arrays, WebAssembly memories — so while a child has
// work the pool reads its resident set size and kills it past its limit
// (sandbox-slot.ts). Linux only (/proc); elsewhere the heap limit is all there is.

import { readFileSync } from "node:fs";

/**
 * Resident memory of `pid` in MB, or null where /proc is not available. A
 * synchronous read: /proc answers from memory, and fs/promises' open, fstat,
 * read and close each went through the thread pool (~3% of a busy agent's
 * CPU in a profile, at 10 reads a second per busy child).
 */
export function residentMb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}
