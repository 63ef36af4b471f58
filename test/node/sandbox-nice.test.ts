// The sandbox children's scheduling priority (--nice): read back from the
// kernel for the real children a pool forks, not from the pool's settings.
import { readdirSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/protocol/index.js";
import { SandboxPool } from "../../worker-agent/src/sandbox.js";

const childPath = join(fileURLToPath(new URL("../../worker-agent/", import.meta.url)), "dist", "sandbox-child.js");
const pools: SandboxPool[] = [];

/** This process's live children running `childPath`, by /proc (ppid and command line). */
function sandboxChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, "utf8").includes(childPath)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The children a new pool forks to run four tasks (an earlier test's may still be exiting). */
async function poolRunning(nice: number | undefined): Promise<number[]> {
  const before = new Set(sandboxChildren());
  const pool = new SandboxPool({ childPath, size: 2, maxMemoryMb: 128, ...(nice === undefined ? {} : { nice }) });
  pools.push(pool);
  const source = "(n) => n + 1";
  const fnHash = await sha256Hex(source);
  const outcomes = await Promise.all(
    [1, 2, 3, 4].map((n) => pool.run({ jobId: `t.nice${n}aaaaaa.0`, leaseId: `t.lease${n}aaaaaa`, attempt: 1, queue: "t", fnHash, input: n, timeoutMs: 5_000 }, source)),
  );
  expect(outcomes.map((o) => o.ok && o.value)).toEqual([2, 3, 4, 5]);
  return sandboxChildren().filter((pid) => !before.has(pid));
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe.runIf(process.platform === "linux")("sandbox niceness", () => {
  it("forks each child at the niceness asked for", async () => {
    const children = await poolRunning(7);
    expect(children.length).toBeGreaterThanOrEqual(1);
    for (const pid of children) expect(getPriority(pid)).toBe(7);
    expect(getPriority()).toBe(getPriority(process.pid)); // this process is untouched
    expect(getPriority()).not.toBe(7);
  });

  it("leaves the children at the agent's own niceness without it", async () => {
    const children = await poolRunning(undefined);
    expect(children.length).toBeGreaterThanOrEqual(1);
    for (const pid of children) expect(getPriority(pid)).toBe(getPriority());
  });
});
