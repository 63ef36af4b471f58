// A coordinator in a process group of its own (scripts/coordinator-process.mjs:
// Node + Miniflare + workerd), for tests that crash it: kill() SIGKILLs the
// whole group — no dispose, no flush, like a machine losing power to the
// process — and restart() starts it again on the same persisted state, port
// and secrets, so agents reconnect to the same URL.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeSecrets, type Secrets } from "./coordinator.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/coordinator-process.mjs", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CoordinatorProcess extends Secrets {
  url: string;
  port: number;
  persistDir: string;
  /** The current process (group leader) id, or null while it is down. */
  pid(): number | null;
  /** SIGKILLs the whole process group and waits until every member is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same state directory, port and secrets. */
  restart(): Promise<void>;
  /** SIGTERM (then SIGKILL after 5 s); removes the state directory if this helper made it. */
  stop(): Promise<void>;
  /** Its last stderr lines, for failure messages. */
  log(): string[];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether any process of group `pgid` is still running (zombies waiting to be reaped do not count). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its closing parenthesis.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
  }
  return false;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/**
 * Fresh secrets whose public key does not start with "-": startAgent() passes
 * it as `--public-key <x>`, and the agent's parseArgs takes a value starting
 * with "-" for an option (exit 2), which would fail 1 run in 64 at random.
 */
function agentSafeSecrets(): Secrets {
  for (;;) {
    const secrets = makeSecrets();
    if (!secrets.publicKey.startsWith("-")) return secrets;
  }
}

export async function startCoordinatorProcess(opts: {
  secrets?: Secrets;
  persistDir?: string;
  port?: number;
  vars?: Record<string, string>;
} = {}): Promise<CoordinatorProcess> {
  const secrets = opts.secrets ?? agentSafeSecrets();
  const ownDir = opts.persistDir === undefined;
  const persistDir = opts.persistDir ?? mkdtempSync(join(tmpdir(), "dist-coord-"));
  // Miniflare keeps workerd's files under os.tmpdir(); a SIGKILLed group never removes them, so they go here.
  const scratchDir = mkdtempSync(join(tmpdir(), "dist-coord-tmp-"));
  const port = opts.port ?? (await freePort());
  const logLines: string[] = [];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  // If the test process ends without stop(), take the coordinator with it.
  const onExit = (): void => {
    if (child?.pid) killGroup(child.pid);
    try {
      rmSync(scratchDir, { recursive: true, force: true });
    } catch {
      /* workerd may still be dying; the OS temp dir is cleaned eventually */
    }
  };
  process.on("exit", onExit);

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    TMPDIR: scratchDir,
    DIST_COORD_PORT: String(port),
    DIST_COORD_PERSIST: persistDir,
    SUBMIT_TOKEN: secrets.submitToken,
    AGENT_TOKEN: secrets.agentToken,
    SIGNING_KEY: secrets.signingKey,
    DIST_COORD_VARS: JSON.stringify(opts.vars ?? {}),
  };

  function spawnOnce(): Promise<string> {
    const proc = spawn(process.execPath, [SCRIPT], { env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    child = proc;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      logLines.push(...chunk.split("\n").filter(Boolean));
      if (logLines.length > 200) logLines.splice(0, logLines.length - 200);
    });
    proc.stdin!.on("error", () => {});
    return new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        killGroup(proc.pid!);
        reject(new Error(`coordinator process did not start within 30 s:\n${logLines.join("\n")}`));
      }, 30_000);
      proc.stdout!.setEncoding("utf8");
      proc.stdout!.on("data", (chunk: string) => {
        out += chunk;
        const m = /listening (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`coordinator process exited (code=${code} signal=${signal}) before listening:\n${logLines.join("\n")}`));
      });
    });
  }

  async function start(): Promise<string> {
    // The port may still be held for a moment by the process just killed.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        return await spawnOnce();
      } catch (err) {
        if (!/address already in use/i.test(String(err)) || Date.now() > deadline) throw err;
        await sleep(200);
      }
    }
  }

  async function kill(): Promise<void> {
    const proc = child;
    if (!proc?.pid) return;
    killGroup(proc.pid);
    await exited;
    for (let i = 0; i < 100 && groupAlive(proc.pid); i++) await sleep(50);
    if (groupAlive(proc.pid)) throw new Error(`process group ${proc.pid} still alive after SIGKILL`);
    child = null;
  }

  const url = await start();
  return {
    ...secrets,
    url,
    port,
    persistDir,
    pid: () => child?.pid ?? null,
    kill,
    restart: async () => {
      if (child) await kill();
      await start();
    },
    stop: async () => {
      const proc = child;
      if (proc?.pid) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => killGroup(proc.pid!), 5_000);
        await exited;
        clearTimeout(timer);
        killGroup(proc.pid); // workerd, should dispose have left it behind
        child = null;
      }
      process.off("exit", onExit);
      rmSync(scratchDir, { recursive: true, force: true });
      if (ownDir) rmSync(persistDir, { recursive: true, force: true });
    },
    log: () => [...logLines],
  };
}
