#!/usr/bin/env node
// Micro-benchmark of the agent's sandbox pool alone: N tiny tasks (SHA-256 via
// crypto.subtle inside the task realm) pushed through SandboxPool with a
// prefetch-like backlog, every value checked. Prints throughput, the CPU cost
// per task of this (parent) process and of the sandbox children, IPC messages
// per task, and the cold-start time of the first task after the pool went idle.
//
//   node bench/sandbox.mjs [--tasks 20000] [--size 4] [--inflight 256] [--idle-ms 1000]
//
// SandboxPool is not part of worker-agent's built output (dist/ holds the CLI
// bundles and sandbox-child.js), so it is bundled from source with esbuild into
// .build/bench-sandbox/ first; the child is the built worker-agent/dist/sandbox-child.js.
// CPU comes from /proc (Linux): the parent's own utime+stime via process.cpuUsage(),
// the children's as utime+stime of the live ones plus cutime+cstime of the reaped ones.

import { execFileSync } from "node:child_process";
import { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build, stop as stopEsbuild } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: args } = parseArgs({
  options: {
    tasks: { type: "string", default: "20000" },
    size: { type: "string", default: "4" },
    inflight: { type: "string", default: "256" },
    "idle-ms": { type: "string", default: "1000" },
  },
});
const N = Number(args.tasks);
const SIZE = Number(args.size);
const INFLIGHT = Number(args.inflight) || N;
const IDLE_MS = Number(args["idle-ms"]);

const childPath = join(root, "worker-agent", "dist", "sandbox-child.js");
if (!existsSync(childPath)) execFileSync(process.execPath, [join(root, "worker-agent", "build.mjs")], { stdio: "inherit" });
const outfile = join(root, ".build", "bench-sandbox", "sandbox.mjs");
await build({
  entryPoints: [join(root, "worker-agent", "src", "sandbox.ts")],
  outfile, bundle: true, platform: "node", target: "node20", format: "esm", logLevel: "warning",
});
const { SandboxPool } = await import(pathToFileURL(outfile).href);
await stopEsbuild(); // its service process would count as one of our children

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const stat = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]), rssKb: Number(f[21]) * 4 };
  } catch {
    return null;
  }
};
/** Live children of this process: pid → stat. */
function children() {
  const out = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = stat(Number(name));
    if (st?.ppid === process.pid) out.set(Number(name), st);
  }
  return out;
}
/** CPU ticks of all children so far: the live ones' own time (those alive at `base` counted from then) + the reaped ones'. */
function childTicks(base) {
  let ticks = stat(process.pid).reaped - (base?.reaped ?? 0);
  for (const [pid, st] of children()) ticks += st.own - (base?.live.get(pid)?.own ?? 0);
  return ticks;
}
const childBase = () => ({ reaped: stat(process.pid).reaped, live: children() });
const rssMb = (pid) => {
  const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
};
const memory = () => {
  const kids = [...children().keys()];
  return { parentMb: rssMb(process.pid), children: kids.length, childrenMb: kids.reduce((s, pid) => s + rssMb(pid), 0) };
};

// Count IPC messages at the channel, whatever the pool's version: sends, and 'message' events received.
let sent = 0;
let received = 0;
// child.send is an own property the channel setup gives each child, so wrap it right after spawn.
const origSpawn = ChildProcess.prototype.spawn;
ChildProcess.prototype.spawn = function (...a) {
  const r = origSpawn.apply(this, a);
  const own = this.send;
  if (typeof own === "function") {
    this.send = function (...b) {
      sent++;
      return own.apply(this, b);
    };
  }
  return r;
};
const origEmit = ChildProcess.prototype.emit;
ChildProcess.prototype.emit = function (event, ...a) {
  if (event === "message") received++;
  return origEmit.call(this, event, ...a);
};

const SOURCE = `async (s) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))), (b) => b.toString(16).padStart(2, "0")).join("")`;
const fnHash = createHash("sha256").update(SOURCE).digest("hex");
const inputs = Array.from({ length: N }, (_, i) => `input-${i}-${"x".repeat(i % 50)}`);
const expected = inputs.map((s) => createHash("sha256").update(s).digest("hex"));
const task = (i) => ({ jobId: `bench.job${i}aaaaaa.0`, leaseId: `bench.lease${i}aaaaaa`, attempt: 1, queue: "bench", fnHash, input: inputs[i], timeoutMs: 30_000 });

const pool = new SandboxPool({ childPath, size: SIZE, maxMemoryMb: 256, idleMs: IDLE_MS });
let t = performance.now();
await pool.start();
const startMs = performance.now() - t;
const afterStart = memory();

let bad = 0;
const base = childBase();
const cpu0 = process.cpuUsage();
const sent0 = sent;
const received0 = received;
t = performance.now();
let next = 0;
async function lane() {
  while (next < N) {
    const i = next++;
    const outcome = await pool.run(task(i), SOURCE);
    if (!outcome.ok || outcome.value !== expected[i]) {
      if (bad++ < 5) console.error(`task ${i}: ${JSON.stringify(outcome).slice(0, 300)}`);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(INFLIGHT, N) }, lane));
const wallMs = performance.now() - t;
const cpu = process.cpuUsage(cpu0);
const kidTicks = childTicks(base);
const forkedInRun = typeof pool.stats === "function" ? pool.stats().forked - base.live.size : 0;
sent -= sent0;
received -= received0;
const msgs = sent + received;

// Idle: wait past idleMs (a pool without reaping keeps its children), then time one task.
await new Promise((r) => setTimeout(r, IDLE_MS + 500));
const idle = memory();
t = performance.now();
const coldBase = childBase();
const cold = await pool.run(task(0), SOURCE);
const coldMs = performance.now() - t;
const coldTicks = childTicks(coldBase);
if (!cold.ok || cold.value !== expected[0]) bad++;
t = performance.now();
await pool.run(task(1), SOURCE);
const warmMs = performance.now() - t;
const stats = typeof pool.stats === "function" ? pool.stats() : null;
await pool.close();

const f = (n, d = 1) => n.toFixed(d);
console.log(`sandbox bench: ${N} tasks, size ${SIZE}, ${INFLIGHT} in flight, node ${process.version}`);
console.log(`  wrong values        ${bad}`);
console.log(`  throughput          ${f(N / (wallMs / 1000), 0)} tasks/s (${f(wallMs, 0)} ms wall; noisy on a shared machine)`);
console.log(`  parent CPU          ${f((cpu.user + cpu.system) / N)} µs/task`);
console.log(`  children CPU        ${f((kidTicks * 1e6) / CLK_TCK / N)} µs/task (${forkedInRun} children forked during the run)`);
if (forkedInRun > 0) console.log(`    without forks     ~${f(((kidTicks - forkedInRun * coldTicks) * 1e6) / CLK_TCK / N)} µs/task (a fork + first task ≈ ${f((coldTicks * 1000) / CLK_TCK, 0)} ms CPU)`);
console.log(`  IPC messages        ${f(msgs / N, 3)} per task (${msgs} in all: ${sent} sent, ${received} received)`);
console.log(`  start()             ${f(startMs)} ms`);
console.log(`  memory after start  parent ${f(afterStart.parentMb)} MB + ${afterStart.children} children ${f(afterStart.childrenMb)} MB`);
console.log(`  memory when idle    parent ${f(idle.parentMb)} MB + ${idle.children} children ${f(idle.childrenMb)} MB (after ${IDLE_MS + 500} ms idle)`);
console.log(`  first task after idle ${f(coldMs)} ms (next one ${f(warmMs)} ms)`);
if (stats) console.log(`  pool.stats()        ${JSON.stringify(stats)}`);
process.exitCode = bad ? 1 : 0;
