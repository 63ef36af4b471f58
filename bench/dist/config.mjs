// The dist configuration: the coordinator (Miniflare + workerd, counting
// wrapper) with N dist-agent processes (worker-agent/dist/cli.js, each with
// its sandbox children) and the submitter process.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { jsonClient } from "../lib/http.mjs";
import { forkScript, nextMessage, sleep, startProcess, stopProcess } from "../lib/procs.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
/** The built agent; BENCH_AGENT_CLI measures another build (e.g. a worktree's) against this coordinator. */
export const AGENT_CLI = process.env.BENCH_AGENT_CLI ?? `${root}worker-agent/dist/cli.js`;
/**
 * Extra agent flags; none by default: the agent as a volunteer runs it (exchange,
 * automatic prefetch). BENCH_DIST_AGENT_ARGS sets them, e.g. "--no-exchange --prefetch 0".
 */
export const AGENT_ARGS = (process.env.BENCH_DIST_AGENT_ARGS ?? "").split(/\s+/).filter(Boolean);

/** Node flags for the agent processes, e.g. BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them. */
const AGENT_NODE_ARGS = (process.env.BENCH_AGENT_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);

/** Functions tried in order: the first whose result is right is used (the sandbox decides what it offers). */
export const DIST_FUNCTIONS = [
  { label: "ES module, node:crypto createHash", source: 'import { createHash } from "node:crypto";\nexport default (s) => createHash("sha256").update(s).digest("hex");\n' },
  {
    label: "arrow, crypto.subtle.digest",
    source: 'async (s) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))), (b) => b.toString(16).padStart(2, "0")).join("")',
  },
];

export function makeSecrets() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    submitToken: `submit-${randomBytes(12).toString("hex")}`,
    agentToken: `agent-${randomBytes(12).toString("hex")}`,
    signingKey: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
    publicKey: publicKey.export({ format: "jwk" }).x,
  };
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs);
  }
  return newest;
}

/** The built agent must exist; a build older than its sources is measured anyway, with a warning. */
export function checkAgentBuild(warn) {
  if (!existsSync(AGENT_CLI)) throw new Error(`${AGENT_CLI} is missing: run \`npm run build:agent\` first`);
  const built = statSync(AGENT_CLI).mtimeMs;
  if (newestMtime(`${root}worker-agent/src`) > built || newestMtime(`${root}src/protocol`) > built) {
    warn("worker-agent/dist is older than its sources; run `npm run build:agent` to measure the current agent");
  }
}

const baseEnv = () => Object.fromEntries(["PATH", "HOME"].filter((k) => process.env[k]).map((k) => [k, process.env[k]]));

function tail(path, lines = 15) {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * Where the coordinator's storage goes. It is not persisted (durableObjectsPersist:
 * false), yet Miniflare keeps workerd's SQLite files in a directory under the OS
 * temp dir, and workerd fsyncs at every commit: on a disk-backed /tmp that is a
 * disk flush per transaction, which no deployed Durable Object pays here and which
 * the Redis peer (no persistence, bullmq/config.mjs) does not pay either. So the
 * bench gives Miniflare a temp dir in memory (/dev/shm) where there is one.
 * BENCH_COORD_STORAGE=disk keeps the OS temp dir, to measure the difference
 * (README, Performance).
 */
export function coordinatorStorage() {
  if (process.env.BENCH_COORD_STORAGE === "disk") return "disk";
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "memory";
  } catch {
    return "disk";
  }
}

/** A TMPDIR for a Miniflare process (a fresh directory in /dev/shm), or null for the OS temp dir. */
export function coordinatorTmpDir(prefix = "dist-coordinator-") {
  return coordinatorStorage() === "memory" ? mkdtempSync(`/dev/shm/${prefix}`) : null;
}

/** Starts the coordinator alone; resolves { url, entry, secrets, stats(), stop() }. */
export async function startCoordinator({ logDir, vars = {} }) {
  const secrets = makeSecrets();
  const storageDir = coordinatorTmpDir();
  const removeStorage = () => storageDir && rmSync(storageDir, { recursive: true, force: true });
  const log = `${logDir}/dist-coordinator.log`;
  const fd = openSync(log, "a");
  // BENCH_WORKERD_PROFILE*=…: CPU profiles of workerd's isolates; BENCH_MINIFLARE_ENTRY=1: requests through
  // Miniflare's entry Worker. Both passed on to coordinator.mjs (see there).
  const profileEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BENCH_WORKERD_PROFILE") || k === "BENCH_MINIFLARE_ENTRY"));
  const entry = forkScript("dist coordinator", fileURLToPath(new URL("./coordinator.mjs", import.meta.url)), [], {
    env: { ...baseEnv(), ...(storageDir ? { TMPDIR: storageDir } : {}), SUBMIT_TOKEN: secrets.submitToken, AGENT_TOKEN: secrets.agentToken, SIGNING_KEY: secrets.signingKey, BENCH_COORD_VARS: JSON.stringify(vars), ...profileEnv },
    stdio: ["ignore", fd, fd, "ipc"],
  });
  let url;
  try {
    ({ url } = await nextMessage(entry, (m) => m.url || m.error, 60_000));
  } catch (err) {
    await stopProcess(entry);
    removeStorage();
    throw new Error(`${err.message}\n${tail(log)}`);
  }
  const client = jsonClient(url);
  return {
    url,
    entry,
    secrets,
    stats: () => client.call("GET", "/__bench/stats"),
    async stop() {
      client.close();
      await stopProcess(entry);
      removeStorage();
    },
  };
}

export async function startDist({ agents, concurrency, logLevel, logDir }) {
  const coord = await startCoordinator({ logDir });
  const started = [];
  const stop = async () => {
    await Promise.all(started.map((e) => stopProcess(e, 10_000)));
    await coord.stop();
  };
  try {
    const { url, secrets } = coord;
    for (let i = 0; i < agents; i++) {
      const log = `${logDir}/dist-agent-${i}.log`;
      const fd = openSync(log, "a");
      const args = [...AGENT_NODE_ARGS, AGENT_CLI, "--url", url, "--token", secrets.agentToken, `--public-key=${secrets.publicKey}`, ...(concurrency ? ["--concurrency", String(concurrency)] : []), "--name", `bench-${i}`, ...AGENT_ARGS];
      if (logLevel) args.push("--log-level", logLevel);
      const entry = startProcess(`dist-agent ${i}`, process.execPath, args, { env: baseEnv(), stdio: ["ignore", "ignore", fd] });
      entry.log = log;
      started.push(entry);
    }
    // Ready = every agent has polled or exchanged (it does only once its sandbox pool is up).
    const deadline = Date.now() + 90_000;
    for (;;) {
      const dead = started.find((e) => e.exited);
      if (dead) throw new Error(`${dead.name} exited during start:\n${tail(dead.log)}`);
      const stats = await coord.stats();
      if (stats.pollers >= agents) break;
      if (Date.now() > deadline) throw new Error(`agents not polling after 90 s:\n${tail(started[0].log)}`);
      await sleep(200);
    }
    const submitter = forkScript("dist submitter", fileURLToPath(new URL("../lib/submitter.mjs", import.meta.url)), [], {
      env: { ...baseEnv(), BENCH_URL: url, BENCH_TOKEN: secrets.submitToken },
    });
    started.push(submitter);
    await nextMessage(submitter, (m) => m.ready, 30_000);
    return {
      submitter,
      functions: DIST_FUNCTIONS,
      roles: () => [
        // Miniflare's node process apart from workerd, which serves the requests (and is what runs in production).
        { role: "coordinator node", pid: coord.entry.pid, childRole: "coordinator workerd" },
        ...started.filter((e) => e !== submitter).map((e) => ({ role: "agent", pid: e.pid, childRole: "sandbox" })),
        { role: "submitter", pid: submitter.pid },
      ],
      async counters() {
        const { counts } = await coord.stats();
        return { requests: Object.values(counts).reduce((a, b) => a + b, 0), byRoute: counts };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
