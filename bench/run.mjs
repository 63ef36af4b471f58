#!/usr/bin/env node
// npm run bench — dist against its peers on this machine, all on 127.0.0.1.
//
//   dist     the coordinator (src/ bundled with esbuild, run by Miniflare: one
//            workerd process) and 4 dist-agent processes (worker-agent/dist,
//            each with its sandbox children); jobs go in with POST /v1/jobs
//            (≤ 10,000 inputs per request) and come back through
//            GET /v1/batches/:id/results?after=&wait=
//   bullmq   BullMQ on Debian's redis-server (installed with apt-get when
//            missing, started here on a free port), 4 worker processes at
//            concurrency 16, fed by Queue.addBulk, results via QueueEvents
//   ceiling  a bare node:http long-poll coordinator with 4 agents × 16 polls,
//            one request per job (bench/ceiling): what loopback HTTP allows
//
// The job: SHA-256 hex of a 30-byte string. Every result is checked against
// the locally computed hash; a run that loses, duplicates or miscomputes a
// job is reported as failed and not measured. Each configuration is started
// afresh for each run (runs interleaved: dist, bullmq, ceiling, then again in
// rotated order), warmed up, timed for one-job round trips, then measured.
// The warm-up (--warm-jobs, default four times as many jobs as are measured)
// is there so the figures are of processes past their JIT warm-up: dist runs
// 12 Node processes (4 agents, 8 sandbox children), and a sandbox child's
// first ~2,500 tasks cost it ~3× what later ones do (V8 optimizing its hot
// paths). With as many warm-up jobs as measured ones, each child had run only
// ~2,500 tasks when measuring began, and dist's CPU per job was still 10–25%
// higher than after four times as many (quick runs, alternated: 106–129 vs
// 93–100 µs/job; BullMQ 187–257 vs 179–215).
//
// How each figure is measured:
//   jobs/s      jobs ÷ (first submit → last result received by the submitter)
//   p50/p99     per job: finish time (dist: finishedAt from the coordinator;
//               bullmq: the completed event's stream id, Redis's clock;
//               ceiling: the server's clock) − when the submitter sent the
//               request that carried the job. All clocks are this machine's.
//   CPU µs/job  user+system CPU of every process of the configuration
//               (coordinator incl. workerd, agents incl. sandbox children,
//               redis-server, workers, and the submitter process), read from
//               /proc/<pid>/stat (utime+stime+cutime+cstime) before and after
//               the measured run, ÷ jobs
//   req/job     requests the coordinator served during the run ÷ jobs: dist
//               counts every request the Worker served, by route, in a wrapper
//               around src/index.ts (bench/dist/counting-entry.mjs); the
//               ceiling counts its own; for BullMQ it is the Redis calls its
//               clients make (EVALSHA/EVAL of its Lua scripts and blocking
//               reads, from INFO commandstats; the commands run inside the
//               scripts are listed apart)
//   dist's job  the first that gives the right hash of: an ES module using
//               node:crypto, an arrow using crypto.subtle (what the sandbox
//               allows decides); BullMQ and the ceiling use node:crypto
//   RTT         one job submitted to an idle system until its result is read
//               by the submitter, median of --rtt samples
//   memory      dist only: RSS of an idle dist-agent (default concurrency) and
//               its sandbox children 5 s after it began polling, and again
//               35 s after it ran 200 jobs (the target takes the larger);
//               workerd's RSS with 1,000 idle long-polls (exchanges, as idle
//               agents send them) parked on one queue (50 enrolled agents × 20)
// Medians over the runs are reported, and dist/BullMQ round by round (each
// round runs every configuration once, back to back); the JSON (--json)
// holds every run.
// Before each run the bench waits (up to 30 s) for a quiet second, and for
// each run it reports the share of the machine's CPU that other processes
// took ("other CPU"): on a shared 2-core machine that is the main noise.
//
// Flags: --jobs N (20000)  --runs N (3)  --only dist,bullmq,ceiling
//        --json FILE  --quick (2000 jobs, 1 run)  --agents N (4)
//        --concurrency N (16: BullMQ worker concurrency, ceiling polls per
//        agent)  --dist-concurrency N (dist-agent --concurrency; default: the
//        agent's own default, the CPU count: each slot is a sandbox process,
//        where a BullMQ worker's concurrency is promises in one process)
//        --agent-log-level LEVEL
//        (dist-agent's --log-level; default: the agent's own default)
//        --warm-jobs N (4 × --jobs)  --rtt N (20)  --no-memory  --keep-logs (the processes' logs, kept
//        anyway when a run fails)

import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { makeInputs, median, percentile, sha256Hex, verify } from "./lib/jobs.mjs";
import { ask, cpuDelta, cpuSnapshot, killAllNow, machineBusyUs, sleep, stopAll } from "./lib/procs.mjs";
import { checkAgentBuild, coordinatorStorage, startDist } from "./dist/config.mjs";
import { measureIdleAgent, measureIdlePolls } from "./dist/memory.mjs";
import { ensureRedis, redisVersion, startBullmq } from "./bullmq/config.mjs";
import { startCeiling } from "./ceiling/config.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const ALL = ["dist", "bullmq", "ceiling"];
const TARGETS = {
  throughput: 2, // dist jobs/s ≥ 2 × BullMQ's
  cpu: 0.5, // dist CPU/job ≤ 0.5 × BullMQ's
  rtt: 2, // dist unloaded RTT ≤ 2 × the ceiling's
  jobsPerRequest: 50,
  idleAgentMb: 60,
  idlePollsMb: 200,
};

function options() {
  const { values } = parseArgs({
    options: {
      jobs: { type: "string" },
      runs: { type: "string" },
      only: { type: "string" },
      json: { type: "string" },
      quick: { type: "boolean", default: false },
      agents: { type: "string", default: "4" },
      concurrency: { type: "string", default: "16" },
      "dist-concurrency": { type: "string" },
      "agent-log-level": { type: "string" },
      rtt: { type: "string" },
      "warm-jobs": { type: "string" },
      "no-memory": { type: "boolean", default: false },
      "keep-logs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n") + "\n");
    process.exit(0);
  }
  const int = (v, name) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const only = (values.only ?? ALL.join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  for (const c of only) if (!ALL.includes(c)) throw new Error(`--only: unknown configuration ${c} (${ALL.join(", ")})`);
  const jobs = int(values.jobs ?? (values.quick ? 2000 : 20000), "jobs");
  return {
    jobs,
    runs: int(values.runs ?? (values.quick ? 1 : 3), "runs"),
    only,
    json: values.json,
    agents: int(values.agents, "agents"),
    concurrency: int(values.concurrency, "concurrency"),
    distConcurrency: values["dist-concurrency"] === undefined ? undefined : int(values["dist-concurrency"], "dist-concurrency"),
    agentLogLevel: values["agent-log-level"],
    rttSamples: int(values.rtt ?? (values.quick ? 10 : 20), "rtt"),
    warmJobs: int(values["warm-jobs"] ?? 4 * jobs, "warm-jobs"),
    memory: !values["no-memory"] && only.includes("dist"),
    quietWaitMs: values.quick ? 5_000 : 30_000,
    keepLogs: values["keep-logs"],
  };
}

/** The idle agent's figure held against the target: fresh, or after work and idling, whichever is larger. */
const idleAgentRss = (a) => Math.max(a.rssBytes, a.afterWork?.rssBytes ?? 0);

const log = (...a) => process.stderr.write(`[bench] ${a.join(" ")}\n`);

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(`${root}node_modules/${pkg}/package.json`, "utf8")).version;
  } catch {
    return "?";
  }
}

function machine(redisBin) {
  let commit = "?";
  try {
    commit = execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {}
  return {
    cpu: cpus()[0]?.model ?? "?",
    cores: availableParallelism(),
    node: process.version,
    redis: redisBin ? redisVersion(redisBin) : null,
    bullmq: versionOf("bullmq"),
    ioredis: versionOf("ioredis"),
    miniflare: versionOf("miniflare"),
    coordinatorStorage: coordinatorStorage() === "memory" ? "memory (/dev/shm)" : "disk (OS temp dir)",
    commit,
  };
}

/** Submits `inputs` through the configuration's submitter; throws unless every result is right. */
async function runJobs(sys, inputs, fn, timeoutMs) {
  const reply = await ask(sys.submitter, { cmd: "run", inputs, fn, timeoutMs }, timeoutMs + 30_000);
  return { reply, check: verify(inputs, reply.results) };
}

/** The first of the configuration's functions that computes the right hash (dist: what the sandbox offers). */
async function pickFunction(sys) {
  for (const f of sys.functions) {
    if (f.source === null) return f;
    const input = makeInputs(1, "probe")[0];
    try {
      const { values } = await ask(sys.submitter, { cmd: "rtt", inputs: [input], fn: f.source, extra: { maxAttempts: 1, timeoutMs: 10_000 } }, 60_000);
      if (values[0] === sha256Hex(input)) return f;
      log(`  function "${f.label}" not usable here: ${JSON.stringify(values[0]).slice(0, 200)}`);
    } catch (err) {
      log(`  function "${f.label}" not usable here: ${err.message}`);
    }
  }
  throw new Error("no job function produced the right hash");
}

/** Waits (up to `maxMs`) for a second in which other processes keep under 20% of the machine busy. */
async function waitForQuiet(maxMs) {
  const deadline = Date.now() + maxMs;
  let share;
  do {
    const b0 = machineBusyUs();
    await sleep(1_000);
    share = (machineBusyUs() - b0) / (1e6 * availableParallelism());
  } while (share > 0.2 && Date.now() < deadline);
  return share;
}

async function measureOnce(name, opts, ctx) {
  const start = { dist: startDist, bullmq: startBullmq, ceiling: startCeiling }[name];
  const t0 = Date.now();
  const sys = await start({
    agents: opts.agents,
    workers: opts.agents,
    concurrency: name === "dist" ? opts.distConcurrency : opts.concurrency,
    logLevel: opts.agentLogLevel,
    logDir: ctx.logDir,
    redisBin: ctx.redisBin,
  });
  try {
    const startMs = Date.now() - t0;
    const fn = await pickFunction(sys);
    const timeoutMs = Math.max(120_000, opts.jobs * 20);
    const warm = await runJobs(sys, makeInputs(opts.warmJobs, "warm"), fn.source, timeoutMs);
    if (!warm.check.ok) throw new Error(`warm-up lost or broke jobs: ${JSON.stringify(warm.check)}`);
    await sleep(500);
    const rttInputs = makeInputs(opts.rttSamples, "rtt");
    const rtt = await ask(sys.submitter, { cmd: "rtt", inputs: rttInputs, fn: fn.source }, 300_000);
    const rttWrong = rtt.values.filter((v, i) => v !== sha256Hex(rttInputs[i])).length;
    await sleep(500);

    const inputs = makeInputs(opts.jobs, "run");
    const c0 = await sys.counters();
    const cpu0 = cpuSnapshot(sys.roles());
    const busy0 = machineBusyUs();
    const w0 = performance.now();
    const { reply, check } = await runJobs(sys, inputs, fn.source, timeoutMs);
    const windowUs = (performance.now() - w0) * 1000;
    const busy1 = machineBusyUs();
    const cpu1 = cpuSnapshot(sys.roles());
    const c1 = await sys.counters();

    const cpuByRole = cpuDelta(cpu0, cpu1);
    const cpuTotal = Object.values(cpuByRole).reduce((a, b) => a + b, 0);
    // CPU that processes outside this configuration took meanwhile (other work on the machine, and the bench itself).
    const foreignShare = Math.max(0, (busy1 - busy0 - cpuTotal) / (windowUs * availableParallelism()));
    const requests = c1.requests - c0.requests - (c1.selfRequests ?? 0);
    const byRoute = {};
    for (const [k, v] of Object.entries(c1.byRoute)) if (v - (c0.byRoute[k] ?? 0) > 0) byRoute[k] = v - (c0.byRoute[k] ?? 0);
    const latencies = reply.results.map((r) => r[2]).sort((a, b) => a - b);
    return {
      ok: check.ok && rttWrong === 0,
      check,
      rttWrong,
      function: fn.label,
      startMs,
      jobs: opts.jobs,
      wallMs: reply.wallMs,
      jobsPerSec: (opts.jobs / reply.wallMs) * 1000,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      cpuUsPerJob: cpuTotal / opts.jobs,
      cpuUsPerJobByRole: Object.fromEntries(Object.entries(cpuByRole).map(([k, v]) => [k, v / opts.jobs])),
      requests,
      requestsPerJob: requests / opts.jobs,
      jobsPerRequest: opts.jobs / requests,
      requestsByRoute: byRoute,
      rttMs: median(rtt.samples),
      foreignCpuShare: foreignShare,
      rttSamplesMs: rtt.samples.map((x) => Math.round(x * 100) / 100),
    };
  } finally {
    await sys.stop();
  }
}

/** dist's figure ÷ BullMQ's, round by round. */
function pairedByRound(runs, key) {
  return (runs.dist ?? []).map((d, i) => {
    const b = runs.bullmq?.[i];
    return d?.ok && b?.ok && b[key] ? d[key] / b[key] : null;
  });
}

function summarize(runs) {
  const good = runs.filter((r) => r.ok);
  if (good.length === 0) return null;
  const med = (k) => median(good.map((r) => r[k]));
  const roles = [...new Set(good.flatMap((r) => Object.keys(r.cpuUsPerJobByRole)))];
  const routes = [...new Set(good.flatMap((r) => Object.keys(r.requestsByRoute)))];
  return {
    validRuns: good.length,
    failedRuns: runs.length - good.length,
    jobsPerSec: med("jobsPerSec"),
    p50Ms: med("p50Ms"),
    p99Ms: med("p99Ms"),
    cpuUsPerJob: med("cpuUsPerJob"),
    cpuUsPerJobByRole: Object.fromEntries(roles.map((k) => [k, median(good.map((r) => r.cpuUsPerJobByRole[k] ?? 0))])),
    requestsPerJob: med("requestsPerJob"),
    jobsPerRequest: med("jobsPerRequest"),
    requestsByRoute: Object.fromEntries(routes.map((k) => [k, median(good.map((r) => r.requestsByRoute[k] ?? 0))])),
    rttMs: med("rttMs"),
    foreignCpuShare: med("foreignCpuShare"),
    function: good[0].function,
  };
}

const fmt = (x, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const mb = (b) => (b === null || b === undefined ? "—" : `${fmt(b / 1048576, 1)} MB`);

function table(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function report(result) {
  const { machine: m, options: o, summary: s, memory, ratios } = result;
  const out = [];
  out.push(`dist bench — ${o.jobs.toLocaleString("en-US")} jobs × ${o.runs} run(s) per configuration after ${o.warmJobs.toLocaleString("en-US")} warm-up jobs, medians; ${o.agents} agents/workers; dist-agent --concurrency ${o.distConcurrency ?? `default (${availableParallelism()})`}, BullMQ/ceiling concurrency ${o.concurrency}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}; redis ${m.redis ?? "—"}, bullmq ${m.bullmq}, ioredis ${m.ioredis}, miniflare ${m.miniflare}, coordinator storage in ${m.coordinatorStorage}; HEAD ${m.commit} (plus any uncommitted changes)`);
  out.push("");
  const rows = o.only.map((name) => {
    const x = s[name];
    const runs = result.runs[name];
    if (!x) return [name, "FAILED", "", "", "", "", "", "", `0/${runs.length}`, ""];
    return [name, fmt(x.jobsPerSec), fmt(x.p50Ms), fmt(x.p99Ms), fmt(x.cpuUsPerJob), fmt(x.requestsPerJob, 3), fmt(x.jobsPerRequest, 1), fmt(x.rttMs, 2), `${x.validRuns}/${runs.length}`, `${fmt(x.foreignCpuShare * 100)}%`];
  });
  out.push(table(rows, ["config", "jobs/s", "p50 ms", "p99 ms", "CPU µs/job", "req/job", "jobs/req", "RTT ms", "valid runs", "other CPU"]));
  out.push("(other CPU: share of the machine that processes outside the configuration used during its runs; above a few % the figures are disturbed)");
  out.push("");
  out.push("CPU µs/job by process role (median):");
  for (const name of o.only) if (s[name]) out.push(`  ${name.padEnd(8)} ${Object.entries(s[name].cpuUsPerJobByRole).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}`);
  out.push("Requests per run by route (median):");
  for (const name of o.only) if (s[name]) out.push(`  ${name.padEnd(8)} ${Object.entries(s[name].requestsByRoute).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}`);
  if (s.dist) out.push(`dist job function: ${s.dist.function}`);
  for (const name of o.only) {
    for (const [i, r] of result.runs[name].entries()) if (!r.ok) out.push(`FAILED ${name} run ${i + 1}: ${r.error ?? JSON.stringify({ check: r.check, rttWrong: r.rttWrong })}`);
  }
  out.push("");
  const mark = (ok) => (ok === null ? "?" : ok ? "✔" : "✘");
  const t = result.targets;
  const lines = [
    ["dist/BullMQ throughput", ratios.throughputVsBullmq, `≥ ${TARGETS.throughput}×`, t.throughput],
    ["dist/BullMQ CPU per job", ratios.cpuVsBullmq, `≤ ${TARGETS.cpu}×`, t.cpu],
    ["dist/ceiling unloaded RTT", ratios.rttVsCeiling, `≤ ${TARGETS.rtt}×`, t.rtt],
    ["dist jobs per coordinator request", s.dist?.jobsPerRequest ?? null, `≥ ${TARGETS.jobsPerRequest}`, t.jobsPerRequest],
    ["idle agent RSS (MB), the larger of fresh/after work", memory?.idleAgent ? idleAgentRss(memory.idleAgent) / 1048576 : null, `≤ ${TARGETS.idleAgentMb}`, t.idleAgent],
    ["workerd RSS, 1,000 idle polls (MB)", memory?.idlePolls ? memory.idlePolls.workerdRssBytes / 1048576 : null, `≤ ${TARGETS.idlePollsMb}`, t.idlePolls],
  ];
  out.push(table(lines.map(([k, v, target, ok]) => [k, v === null ? "—" : fmt(v, 2), target, mark(ok)]), ["target", "measured", "wanted", ""]));
  out.push(`dist/ceiling throughput: ${fmt(ratios.throughputVsCeiling, 2)}×  (no target; the loopback ceiling)`);
  const rounds = (list) => list.map((v) => (v === null ? "—" : fmt(v, 2))).join(", ");
  if (o.only.includes("bullmq") && ratios.byRound.throughputVsBullmq.length > 1) {
    out.push(`dist/BullMQ round by round (the runs are interleaved; the machine's speed drifts between rounds): throughput ${rounds(ratios.byRound.throughputVsBullmq)} · CPU per job ${rounds(ratios.byRound.cpuVsBullmq)}`);
  }
  if (memory?.idleAgent) {
    const a = memory.idleAgent;
    out.push(`idle agent: ${mb(a.rssBytes)} RSS (${mb(a.pssBytes)} PSS) in ${a.processes} processes (agent process ${mb(a.agentProcessRssBytes)}, concurrency ${a.concurrency})`);
    if (a.whileWorking) out.push(`  while running ${a.afterWork.jobs} jobs: ${mb(a.whileWorking.rssBytes)} RSS in ${a.whileWorking.processes} processes`);
    if (a.afterWork) out.push(`  ${fmt(a.afterWork.idleMs / 1000, 0)} s after that work: ${mb(a.afterWork.rssBytes)} RSS (${mb(a.afterWork.pssBytes)} PSS) in ${a.afterWork.processes} processes (agent process ${mb(a.afterWork.agentProcessRssBytes)})`);
  }
  if (memory?.idlePolls) {
    const p = memory.idlePolls;
    out.push(`idle polls: workerd ${mb(p.workerdRssBeforeBytes)} → ${mb(p.workerdRssBytes)} with ${p.polls} polls from ${p.agents} agents (${fmt(p.perPollBytes / 1024, 1)} KB/poll; coordinator tree incl. Miniflare's node ${mb(p.coordinatorTreeRssBytes)}; answered early: ${p.answeredEarly})`);
  }
  for (const [k, v] of Object.entries(memory?.errors ?? {})) out.push(`memory ${k} FAILED: ${v}`);
  return out.join("\n");
}

async function main() {
  let opts;
  try {
    opts = options();
  } catch (err) {
    log(`${err.message} (--help lists the flags)`);
    process.exit(2);
  }
  const logDir = mkdtempSync(`${tmpdir()}/dist-bench-`);
  let failed = false;
  const warn = (m) => log(`warning: ${m}`);
  if (opts.only.includes("dist")) checkAgentBuild(warn);
  const redisBin = opts.only.includes("bullmq") ? ensureRedis(log) : null;
  const ctx = { logDir, redisBin };
  const runs = Object.fromEntries(opts.only.map((n) => [n, []]));
  const began = Date.now();

  for (let r = 0; r < opts.runs; r++) {
    const order = opts.only.map((_, i) => opts.only[(i + r) % opts.only.length]);
    for (const name of order) {
      const load = await waitForQuiet(opts.quietWaitMs);
      log(`run ${r + 1}/${opts.runs}: ${name} ...${load > 0.2 ? ` (the machine is busy: ${fmt(load * 100)}% used by other processes)` : ""}`);
      try {
        const res = await measureOnce(name, opts, ctx);
        runs[name].push(res);
        if (!res.ok) failed = true;
        log(`  ${name}: ${res.ok ? "" : "FAILED "}${fmt(res.jobsPerSec)} jobs/s, p50 ${fmt(res.p50Ms)} ms, ${fmt(res.cpuUsPerJob)} µs CPU/job, ${fmt(res.jobsPerRequest, 1)} jobs/req, RTT ${fmt(res.rttMs, 2)} ms (start ${fmt(res.startMs / 1000, 1)} s, other CPU ${fmt(res.foreignCpuShare * 100)}%)`);
      } catch (err) {
        failed = true;
        runs[name].push({ ok: false, error: String(err?.message ?? err) });
        log(`  ${name} FAILED: ${err?.message ?? err}`);
      }
      await sleep(1_000);
    }
  }

  let memory = null;
  if (opts.memory) {
    memory = { errors: {} };
    log("memory: idle agent ...");
    try {
      memory.idleAgent = await measureIdleAgent({ logDir });
    } catch (err) {
      failed = true;
      memory.errors.idleAgent = String(err?.message ?? err);
    }
    log("memory: 1,000 idle long-polls ...");
    try {
      memory.idlePolls = await measureIdlePolls({ logDir });
    } catch (err) {
      failed = true;
      memory.errors.idlePolls = String(err?.message ?? err);
    }
  }

  const summary = Object.fromEntries(opts.only.map((n) => [n, summarize(runs[n])]));
  const ratio = (a, b) => (a === null || a === undefined || !b ? null : a / b);
  const ratios = {
    throughputVsBullmq: ratio(summary.dist?.jobsPerSec, summary.bullmq?.jobsPerSec),
    throughputVsCeiling: ratio(summary.dist?.jobsPerSec, summary.ceiling?.jobsPerSec),
    cpuVsBullmq: ratio(summary.dist?.cpuUsPerJob, summary.bullmq?.cpuUsPerJob),
    rttVsCeiling: ratio(summary.dist?.rttMs, summary.ceiling?.rttMs),
    // Each round runs every configuration once, back to back: a ratio within a round is the
    // one the machine's drift between rounds disturbs least. Null where either run failed.
    byRound: {
      throughputVsBullmq: pairedByRound(runs, "jobsPerSec"),
      cpuVsBullmq: pairedByRound(runs, "cpuUsPerJob"),
    },
  };
  const check = (v, ok) => (v === null || v === undefined ? null : ok(v));
  const targets = {
    throughput: check(ratios.throughputVsBullmq, (v) => v >= TARGETS.throughput),
    cpu: check(ratios.cpuVsBullmq, (v) => v <= TARGETS.cpu),
    rtt: check(ratios.rttVsCeiling, (v) => v <= TARGETS.rtt),
    jobsPerRequest: check(summary.dist?.jobsPerRequest, (v) => v >= TARGETS.jobsPerRequest),
    idleAgent: check(memory?.idleAgent ? idleAgentRss(memory.idleAgent) : null, (v) => v <= TARGETS.idleAgentMb * 1048576),
    idlePolls: check(memory?.idlePolls?.workerdRssBytes, (v) => v <= TARGETS.idlePollsMb * 1048576),
  };
  const { json, ...shownOptions } = opts;
  const result = { machine: machine(redisBin), options: shownOptions, wallSeconds: (Date.now() - began) / 1000, targets, targetValues: TARGETS, ratios, summary, memory, runs };
  process.stdout.write(report(result) + "\n");
  if (json) {
    writeFileSync(json, JSON.stringify(result, null, 2) + "\n");
    log(`wrote ${json}`);
  }
  if (failed || opts.keepLogs) log(`logs kept in ${logDir}`);
  else rmSync(logDir, { recursive: true, force: true });
  return failed ? 1 : 0;
}

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping every process the bench started ...`);
    await stopAll(3_000);
    process.exit(130);
  });
}
process.on("exit", killAllNow);

main().then(
  async (code) => {
    await stopAll(3_000);
    process.exit(code);
  },
  async (err) => {
    log(`error: ${err?.stack ?? err}`);
    await stopAll(3_000);
    process.exit(2);
  },
);
