// Starts a real dist-agent process (the built worker-agent/dist/cli.js) for
// end-to-end tests: collects its stderr lines (with the time each arrived),
// resolves once it logs `ready` (or at once, with waitReady: false), and stops
// it with SIGTERM (SIGKILL after 10 s).

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
export const AGENT_CLI = `${root}worker-agent/dist/cli.js`;

export interface AgentProc {
  proc: ChildProcess;
  pid: number;
  /** The agent id the coordinator assigned at enrollment, parsed from the ready line ("" with waitReady: false). */
  agentId: string;
  /** Every stderr line so far. */
  lines: string[];
  /** Date.now() when each line of `lines` arrived. */
  times: number[];
  /** Resolves with the first line (already seen or future) matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** How many lines so far match `re`. */
  count(re: RegExp): number;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

export async function startAgent(opts: {
  url: string;
  token: string;
  publicKey: string;
  concurrency?: number;
  name?: string;
  queue?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Resolve once the agent logs `ready` (default); false resolves at once, for agents expected to fail. */
  waitReady?: boolean;
}): Promise<AgentProc> {
  const args = [AGENT_CLI, "--url", opts.url, "--token", opts.token, "--public-key", opts.publicKey];
  args.push("--concurrency", String(opts.concurrency ?? 1), "--name", opts.name ?? "test-agent");
  if (opts.queue) args.push("--queue", opts.queue);
  args.push(...(opts.args ?? []));
  const env: Record<string, string> = { ...opts.env };
  for (const key of ["PATH", "HOME"] as const) if (process.env[key] && !(key in env)) env[key] = process.env[key]!;

  const proc = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  const lines: string[] = [];
  const times: number[] = [];
  const watchers = new Set<(line: string) => void>();
  let partial = "";
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      times.push(Date.now());
      for (const watch of watchers) watch(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );

  const waitForLine = (re: RegExp, timeoutMs = 15_000): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        watchers.delete(watch);
      };
      const watch = (line: string): void => {
        if (re.test(line)) {
          done();
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${re} within ${timeoutMs} ms; agent output:\n${lines.join("\n")}`));
      }, timeoutMs);
      watchers.add(watch);
      void exited.then(({ code, signal }) => {
        if (!watchers.has(watch)) return;
        done();
        reject(new Error(`agent exited (code=${code} signal=${signal}) before a line matching ${re}; output:\n${lines.join("\n")}`));
      });
    });
  };

  const kill = (signal: NodeJS.Signals = "SIGTERM"): void => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  };
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const count = (re: RegExp): number => lines.filter((l) => re.test(l)).length;
  if (opts.waitReady === false) return { proc, pid: proc.pid!, agentId: "", lines, times, waitForLine, count, kill, exited, stop };
  try {
    const ready = await waitForLine(/ ready agentId=(\S+)/, 15_000);
    const agentId = / ready agentId=(\S+)/.exec(ready)![1]!;
    return { proc, pid: proc.pid!, agentId, lines, times, waitForLine, count, kill, exited, stop };
  } catch (err) {
    kill("SIGKILL");
    throw err;
  }
}
