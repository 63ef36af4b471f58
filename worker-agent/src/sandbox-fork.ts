// How a sandbox child is started: the flags and fork options. Kept apart from
// the pool so tests can start a probe exactly like a child.

import type { ForkOptions } from "node:child_process";
import { setPriority } from "node:os";

/**
 * The flags of a child: the permission model (`--permission` from Node 22,
 * experimental before) with read access to its own script only; vm modules,
 * for tasks written as ES modules; no code generation from strings in the
 * child's own realm; the heap limit.
 */
export function sandboxExecArgv(childPath: string, maxMemoryMb: number): string[] {
  const flag = process.allowedNodeEnvironmentFlags.has("--permission") ? "--permission" : "--experimental-permission";
  return [
    flag, `--allow-fs-read=${childPath}`, "--experimental-vm-modules", "--disallow-code-generation-from-strings",
    `--max-old-space-size=${maxMemoryMb}`, "--no-warnings",
  ];
}

/** How a child is started: no environment, no stdio but the IPC channel, and only --allow-net as an argument. */
export function sandboxFork(childPath: string, opts: { maxMemoryMb: number; allowNet?: boolean }): { args: string[]; options: ForkOptions } {
  return {
    args: opts.allowNet ? ["--allow-net"] : [],
    options: { env: {}, execArgv: sandboxExecArgv(childPath, opts.maxMemoryMb), stdio: ["ignore", "ignore", "ignore", "ipc"], serialization: "json" },
  };
}

/**
 * Lowers a child's scheduling priority (niceness 1-19; Windows maps it to a
 * priority class). Volunteer software runs its work below the machine's own
 * programs; on a machine shared with a coordinator it also keeps the
 * coordinator from waiting behind the tasks it hands out (bench: faster at
 * 10 than at 0 in 15 of 18 alternated runs). Best effort: a platform that
 * refuses leaves the child as it is.
 */
export function lowerPriority(pid: number, nice: number): void {
  try {
    setPriority(pid, nice);
  } catch {
    // Not permitted here, or the child is already gone: it runs at the agent's priority.
  }
}
