// Processes for the bench: starting them (every one registered, so that all
// of them are stopped on exit, also on SIGINT), and reading the CPU time and
// memory of whole process trees from /proc.
//
// CPU of a tree = utime + stime + cutime + cstime of every live process in it.
// A child that exits during a run and is reaped by its parent shows up in the
// parent's cutime/cstime, so its CPU is not lost; a live child's time is not
// yet in its parent's cutime, so nothing is counted twice.

import { execFileSync, fork, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";

export const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const PAGE_SIZE = Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).trim()) || 4096;

/** One process's /proc/<pid>/stat, or null when it is gone. */
export function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const f = text.slice(close + 2).split(" "); // f[0] is field 3 (state)
  return {
    pid,
    comm,
    ppid: Number(f[1]),
    ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]), // utime stime cutime cstime
    startTime: Number(f[19]),
    rssBytes: Number(f[21]) * PAGE_SIZE,
  };
}

/** Every live process: pid → stat. */
function allStats() {
  const stats = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) stats.set(st.pid, st);
  }
  return stats;
}

/** The pids of `root` and all its descendants, from one consistent scan. */
export function treePids(root, stats = allStats()) {
  const children = new Map();
  for (const st of stats.values()) {
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(st.pid);
  }
  const out = [];
  const todo = stats.has(root) ? [root] : [];
  while (todo.length) {
    const pid = todo.pop();
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * A CPU snapshot of several labelled trees: roles is [{ role, pid, childRole? }];
 * the root counts under `role`, its descendants under `childRole` (default: role).
 * Returns Map "pid:startTime" → { role, ticks }.
 */
export function cpuSnapshot(roles) {
  const stats = allStats();
  const snap = new Map();
  for (const { role, pid, childRole } of roles) {
    for (const p of treePids(pid, stats)) {
      const st = stats.get(p);
      snap.set(`${p}:${st.startTime}`, { role: p === pid ? role : (childRole ?? role), ticks: st.ticks, comm: st.comm });
    }
  }
  return snap;
}

/** CPU µs per role between two snapshots (processes that appeared in between count from zero). */
export function cpuDelta(before, after) {
  const byRole = {};
  for (const [key, { role, ticks }] of after) {
    const was = before.get(key)?.ticks ?? 0;
    byRole[role] = (byRole[role] ?? 0) + ((ticks - was) * 1e6) / CLK_TCK;
  }
  return byRole;
}

/** The whole machine's busy CPU (all cores) from /proc/stat, in µs: to tell how much other processes took. */
export function machineBusyUs() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1e6) / CLK_TCK;
}

/** RSS and PSS (bytes) of a tree; PSS splits shared pages between the processes that share them. */
export function treeMemory(root) {
  const stats = allStats();
  const pids = treePids(root, stats);
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += stats.get(pid).rssBytes;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
      if (m) pss += Number(m[1]) * 1024;
    } catch {}
  }
  return { rss, pss, processes: pids.length };
}

/** The pid of the first process in root's tree whose command name matches. */
export function findInTree(root, re) {
  const stats = allStats();
  return treePids(root, stats).find((pid) => re.test(stats.get(pid).comm)) ?? null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- every started process, so that each one is stopped ---

const started = new Set();
let closing = false;

function refuseWhenClosing(name) {
  if (closing) throw new Error(`not starting ${name}: the bench is stopping`);
}

function track(child, name) {
  const entry = { child, name, pid: child.pid, exited: false };
  entry.exit = new Promise((resolve) => child.once("exit", (code, signal) => {
    entry.exited = true;
    resolve({ code, signal });
  }));
  started.add(entry);
  entry.exit.then(() => started.delete(entry));
  return entry;
}

/** spawn() that registers the child for stopping. */
export function startProcess(name, command, args, options) {
  refuseWhenClosing(name);
  const child = spawn(command, args, options);
  child.on("error", () => {});
  return track(child, name);
}

/** fork() of a bench script that registers the child for stopping. */
export function forkScript(name, path, args = [], options = {}) {
  refuseWhenClosing(name);
  const child = fork(path, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], ...options });
  child.on("error", () => {});
  return track(child, name);
}

/** The next IPC message from a child that satisfies `match`, or a rejection on exit/timeout. */
export function nextMessage(entry, match = () => true, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      entry.child.off("message", onMessage);
    };
    const onMessage = (msg) => {
      if (!match(msg)) return;
      done();
      if (msg && msg.error) reject(new Error(`${entry.name}: ${msg.error}`));
      else resolve(msg);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${entry.name}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    entry.child.on("message", onMessage);
    entry.exit.then(({ code, signal }) => {
      done();
      reject(new Error(`${entry.name} exited (code=${code} signal=${signal})`));
    });
  });
}

/** Sends a request over IPC and waits for the reply with the same id. */
let nextId = 1;
export function ask(entry, msg, timeoutMs = 600_000) {
  const id = nextId++;
  const reply = nextMessage(entry, (m) => m && m.id === id, timeoutMs);
  entry.child.send({ ...msg, id });
  return reply;
}

function alive(pid, startTime) {
  const st = readStat(pid);
  return st !== null && st.startTime === startTime;
}

/**
 * Stops a started process and everything under it, by pid: SIGTERM to the
 * root, then after `graceMs` SIGKILL to every process of the tree as it was
 * when stopping began (so nothing is orphaned, and no reused pid is hit).
 */
export async function stopProcess(entry, graceMs = 5_000) {
  if (!entry || entry.exited) return;
  const stats = allStats();
  const tree = treePids(entry.pid, stats).map((pid) => ({ pid, startTime: stats.get(pid).startTime }));
  try {
    process.kill(entry.pid, "SIGTERM");
  } catch {}
  await Promise.race([entry.exit, sleep(graceMs)]);
  for (const { pid, startTime } of tree) {
    if (alive(pid, startTime)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  await Promise.race([entry.exit, sleep(2_000)]);
  // Descendants that outlived the root (orphans re-parented to init) get the same.
  await sleep(50);
  for (const { pid, startTime } of tree) if (alive(pid, startTime)) try { process.kill(pid, "SIGKILL"); } catch {}
}

/** Stops every started process; with `final`, no process may be started afterwards. */
export async function stopAll(graceMs, final = true) {
  if (final) closing = true;
  await Promise.all([...started].map((e) => stopProcess(e, graceMs)));
}

/** Last resort at exit: SIGKILL every started process tree, synchronously. */
export function killAllNow() {
  const stats = allStats();
  for (const entry of started) {
    for (const pid of treePids(entry.pid, stats)) try { process.kill(pid, "SIGKILL"); } catch {}
  }
}
