// The sandbox group's cases: each escape's source (escapes.ts), its input,
// its time limit, and what "contained" means for it, judged from outside the
// sandbox — files that must not exist, a listener that must see nothing, the
// job's recorded outcome, the agent's own log.

import { AGENT_CLI } from "../helpers/agent.js";
import * as E from "./escapes.js";

/** What the judge of a case sees. */
export interface Seen {
  job: any;
  /** The value's probes ({ got } / { denied }) when the job returned some. */
  probes: Record<string, { got?: string; denied?: string }>;
  tcpConnections: number;
  udpMessages: number;
  agentLines: string[];
  exists(path: string): boolean;
}

export interface Escape {
  name: string;
  source: string;
  input?: (fx: Fixture) => unknown;
  timeoutMs?: number;
  /** Whether the case was contained, with a few words of evidence. */
  judge(seen: Seen, fx: Fixture): { contained: boolean; evidence: string };
}

export interface Fixture {
  dir: string;
  tokenFile: string;
  sshDir: string;
  sshKey: string;
  /** The planted key's secret line: it must never come back. */
  canary: string;
  writePaths: string[];
  markers: string[];
  port: number;
  udpPort: number;
}

export const failedWith = (job: any): string =>
  job?.state === "done" ? "returned" : job?.state === "failed" || job?.state === "cancelled" ? `${job.state}:${job?.error?.code ?? job?.error?.name ?? "?"}` : `still ${job?.state} at the deadline`;
const gotAny = (probes: Seen["probes"]): string[] => Object.entries(probes).filter(([k, v]) => k !== "processVia" && v?.got !== undefined).map(([k]) => k);

/** A probe set is contained when no probe got through, or the job failed outright. */
function probesDenied(seen: Seen): { contained: boolean; evidence: string } {
  if (seen.job?.state !== "done") return { contained: true, evidence: `job ${failedWith(seen.job)}` };
  const got = gotAny(seen.probes);
  return { contained: got.length === 0, evidence: got.length ? `got: ${got.join(", ")}` : `all ${Object.keys(seen.probes).length - 1} probes denied` };
}

export const ESCAPES: Escape[] = [
  {
    name: "read the token from env/argv (own and agent's)",
    source: E.READ_ENV_ARGV,
    // The secret scan decides; a readable but token-free environment (empty env, bare argv) is fine.
    judge: (seen) => {
      const env = seen.probes["process.env"]?.got;
      return { contained: true, evidence: env !== undefined ? `env ${env.slice(0, 40)}` : `job ${failedWith(seen.job)}` };
    },
  },
  {
    name: "read the agent's config files",
    source: E.READ_CONFIG,
    input: (fx) => ({ tokenFile: fx.tokenFile, cwd: process.cwd(), agentCli: AGENT_CLI }),
    judge: (seen) => {
      const got = gotAny(seen.probes).filter((k) => k !== "agent bundle");
      return { contained: got.length === 0, evidence: got.length ? `got: ${got.join(", ")}` : probesDenied(seen).evidence };
    },
  },
  { name: "read ~/.ssh", source: E.READ_SSH, input: (fx) => ({ sshKey: fx.sshKey, sshDir: fx.sshDir }), judge: probesDenied },
  {
    name: "write a file",
    source: E.WRITE_FILE,
    input: (fx) => ({ paths: fx.writePaths }),
    judge: (seen, fx) => {
      const made = fx.writePaths.filter((p) => seen.exists(p));
      return { contained: made.length === 0, evidence: made.length ? `${made.length} written` : "no file written" };
    },
  },
  {
    name: "spawn a process",
    source: E.SPAWN,
    input: (fx) => ({ markers: fx.markers }),
    judge: (seen, fx) => {
      const made = fx.markers.filter((p) => seen.exists(p));
      return { contained: made.length === 0, evidence: made.length ? `${made.length} markers touched` : "no marker touched" };
    },
  },
  {
    name: "open a socket (no --allow-net)",
    source: E.NETWORK,
    input: (fx) => ({ port: fx.port, udpPort: fx.udpPort }),
    timeoutMs: 15_000,
    judge: (seen) => ({
      contained: seen.tcpConnections === 0 && seen.udpMessages === 0,
      evidence: `listener saw ${seen.tcpConnections} TCP, ${seen.udpMessages} UDP`,
    }),
  },
  {
    name: "loop forever",
    source: E.LOOP_FOREVER,
    timeoutMs: 1_500,
    judge: (seen) => ({ contained: seen.job?.state === "failed" && seen.job.error?.code === "timeout", evidence: failedWith(seen.job) }),
  },
  {
    name: "allocate without bound (heap)",
    source: E.HEAP_BOMB,
    timeoutMs: 30_000,
    judge: (seen) => ({ contained: seen.job?.state === "failed" && ["memory_limit", "timeout"].includes(seen.job.error?.code), evidence: failedWith(seen.job) }),
  },
  {
    name: "allocate without bound (2 GB off-heap)",
    source: E.OFF_HEAP_BOMB,
    timeoutMs: 30_000,
    judge: (seen) => ({ contained: seen.job?.state === "failed", evidence: seen.job?.state === "done" ? String(seen.job.value) : failedWith(seen.job) }),
  },
  {
    name: "return a 100 MB result",
    source: E.HUGE_RESULT,
    timeoutMs: 30_000,
    judge: (seen) => ({
      contained: seen.job?.state === "failed" && ["result_too_large", "memory_limit"].includes(seen.job.error?.code) && seen.job.value === undefined,
      evidence: failedWith(seen.job),
    }),
  },
];

/** Beyond the list: in the full run only. */
export const EXTRA_ESCAPES: Escape[] = [
  {
    name: "signal the agent or another process",
    source: E.SIGNAL_AGENT,
    input: () => ({ otherPid: process.pid }),
    judge: probesDenied,
  },
  {
    name: "exit its own sandbox",
    source: E.EXIT_SANDBOX,
    judge: (seen) => ({ contained: true, evidence: seen.job?.state === "done" ? "returned" : failedWith(seen.job) }),
  },
  {
    name: "a thenable: the awaiting realm's resolve",
    source: E.THENABLE,
    judge: (seen) => {
      const v = seen.job?.value as { resolveRealm?: string; caller?: string | null } | undefined;
      const escaped = seen.job?.state === "done" && (/host/.test(v?.resolveRealm ?? "") || (typeof v?.caller === "string" && v.caller !== "denied"));
      return { contained: !escaped, evidence: seen.job?.state === "done" ? `resolve: ${v?.resolveRealm}; caller: ${v?.caller === null ? "null" : String(v?.caller).slice(0, 20)}` : failedWith(seen.job) };
    },
  },
  {
    name: "stack frames (Error.prepareStackTrace)",
    source: E.STACK_FRAMES,
    judge: (seen) => {
      const v = seen.job?.value as { found?: string[]; frames?: unknown } | undefined;
      const found = v?.found ?? [];
      return { contained: found.length === 0, evidence: seen.job?.state === "done" ? `${String(v?.frames)} frames, ${found.length} reach process` : failedWith(seen.job) };
    },
  },
  {
    name: "block the thread (Atomics.wait)",
    source: E.ATOMICS_WAIT,
    timeoutMs: 1_500,
    judge: (seen) => ({ contained: seen.job?.state === "failed", evidence: failedWith(seen.job) }),
  },
  {
    name: "grow WebAssembly memory to 4 GB",
    source: E.WASM_MEMORY,
    timeoutMs: 30_000,
    judge: (seen) => ({ contained: seen.job?.state === "failed", evidence: seen.job?.state === "done" ? String(seen.job.value) : failedWith(seen.job) }),
  },
  {
    name: "a result whose getter never returns",
    source: E.ENDLESS_GETTER,
    timeoutMs: 1_500,
    judge: (seen) => ({ contained: seen.job?.state === "failed", evidence: failedWith(seen.job) }),
  },
  {
    name: "an input nested 100,000 deep (echoed)",
    source: E.ECHO,
    input: () => deepInput(100_000),
    // Refused at submission (4xx), or taken and ended either way without harm.
    judge: (seen) => ({
      contained: seen.job?.refused !== undefined ? /^4/.test(seen.job.refused) : seen.job?.state === "done" || seen.job?.state === "failed",
      evidence: seen.job?.refused !== undefined ? `refused at submission: ${seen.job.refused}` : `${failedWith(seen.job)}, ${seen.job?.attempts} attempts`,
    }),
  },
  {
    name: "a result nested 5,000 deep",
    source: E.DEEP_RESULT,
    judge: (seen) => ({ contained: seen.job?.state === "done" || seen.job?.state === "failed", evidence: `${failedWith(seen.job)}, ${seen.job?.attempts} attempts` }),
  },
  {
    name: "inject lines into the agent's log",
    source: E.LOG_INJECTION,
    judge: (seen) => ({ contained: !seen.agentLines.some((l) => l.includes("INJECTED-BY-TASK")), evidence: `${seen.agentLines.filter((l) => l.includes("INJECTED-BY-TASK")).length} injected lines in the log` }),
  },
];

/** A value nested `depth` arrays deep (the JSON body carries it as text; see submitOne). */
function deepInput(depth: number): { __deep: number } {
  return { __deep: depth };
}

