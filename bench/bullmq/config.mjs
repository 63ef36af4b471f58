// The BullMQ peer: Debian's redis-server (installed by the bench with apt-get
// when missing) started on a free port with no persistence, N worker
// processes at concurrency 16, and the driver (addBulk + QueueEvents).
// "Requests" here are the Redis commands the server processed.

import { execFileSync, spawnSync } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { forkScript, freePort, nextMessage, sleep, startProcess, stopProcess } from "../lib/procs.mjs";

const QUEUE = "bench";
/** Commands a BullMQ client sends itself (the INFO is the bench's own read, subtracted). */
const CLIENT_COMMANDS = ["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "bzpopmin", "bzpopmax", "xread", "xreadgroup", "brpoplpush", "blmove", "info"];

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Installs Debian's redis-server when it is missing (needs root), bounded in time. */
export function ensureRedis(log) {
  let bin = which("redis-server");
  if (bin) return bin;
  if (process.getuid?.() !== 0) throw new Error("redis-server is missing; install it (apt-get install -y redis-server) or run the bench as root");
  log("installing redis-server with apt-get (once) ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "-qq", "redis-server"], { env, encoding: "utf8", timeout: 300_000 });
  let r = install();
  if (r.status !== 0) {
    spawnSync("apt-get", ["update", "-qq"], { env, encoding: "utf8", timeout: 300_000 });
    r = install();
  }
  bin = which("redis-server");
  if (!bin) throw new Error(`apt-get install redis-server failed:\n${(r.stderr || r.stdout || "").slice(-2000)}`);
  return bin;
}

export function redisVersion(bin) {
  try {
    return /v=(\S+)/.exec(execFileSync(bin, ["--version"], { encoding: "utf8" }))?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/** One inline command over a fresh socket; resolves the raw reply text. */
function redisCommand(port, command, timeoutMs = 5_000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => sock.destroy(new Error(`redis ${command}: no answer`)), timeoutMs);
    sock.on("connect", () => sock.write(`${command}\r\n`));
    sock.on("data", (d) => {
      text += d.toString("utf8");
      const bulk = /^\$(\d+)\r\n/.exec(text);
      if ((text.startsWith("+") || text.startsWith("-")) && text.endsWith("\r\n")) done();
      else if (bulk && Buffer.byteLength(text) >= bulk[0].length + Number(bulk[1]) + 2) done();
    });
    sock.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const done = () => {
      clearTimeout(timer);
      sock.end();
      resolve(text);
    };
  });
}

const baseEnv = () => Object.fromEntries(["PATH", "HOME"].filter((k) => process.env[k]).map((k) => [k, process.env[k]]));

export async function startBullmq({ workers, concurrency, logDir, redisBin }) {
  const port = await freePort();
  const fd = openSync(`${logDir}/redis.log`, "a");
  const redis = startProcess("redis-server", redisBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--dir", logDir], {
    stdio: ["ignore", fd, fd],
  });
  const started = [];
  const stop = async () => {
    await Promise.all(started.map((e) => stopProcess(e)));
    await stopProcess(redis);
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (redis.exited) throw new Error(`redis-server exited: ${readFileSync(`${logDir}/redis.log`, "utf8").slice(-1000)}`);
      try {
        if ((await redisCommand(port, "PING")).startsWith("+PONG")) break;
      } catch {}
      if (Date.now() > deadline) throw new Error("redis-server did not answer PING within 15 s");
      await sleep(50);
    }
    const env = { ...baseEnv(), REDIS_PORT: String(port), BULLMQ_QUEUE: QUEUE, BULLMQ_CONCURRENCY: String(concurrency) };
    const workerPath = fileURLToPath(new URL("./worker.mjs", import.meta.url));
    for (let i = 0; i < workers; i++) started.push(forkScript(`bullmq worker ${i}`, workerPath, [], { env }));
    const driver = forkScript("bullmq driver", fileURLToPath(new URL("./driver.mjs", import.meta.url)), [], { env });
    started.push(driver);
    await Promise.all(started.map((e) => nextMessage(e, (m) => m.ready, 30_000)));
    return {
      submitter: driver,
      functions: [{ label: "node:crypto createHash in the worker", source: null }],
      roles: () => [
        { role: "redis", pid: redis.pid },
        ...started.filter((e) => e !== driver).map((e) => ({ role: "worker", pid: e.pid })),
        { role: "submitter", pid: driver.pid },
      ],
      // Round trips are what a client pays for: the calls of BullMQ's Lua scripts
      // and the blocking reads. The data commands run inside the scripts are
      // shown apart (INFO's total_commands_processed counts them too).
      async counters() {
        const stats = await redisCommand(port, "INFO commandstats");
        const calls = {};
        for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
        const total = Object.values(calls).reduce((a, b) => a + b, 0);
        const clientCalls = CLIENT_COMMANDS.reduce((n, c) => n + (calls[c] ?? 0), 0);
        return { requests: clientCalls, byRoute: { "redis script calls + blocking reads": clientCalls, "redis commands incl. inside scripts": total }, selfRequests: 1 };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
