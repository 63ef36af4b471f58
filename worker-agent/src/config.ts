// The agent's configuration: the one place that reads argv and the
// environment. Flags win over environment variables, which win over DEFAULTS.

import { availableParallelism, hostname } from "node:os";
import { parseArgs } from "node:util";
import { CLOCK_SKEW_MS, DEFAULT_QUEUE, LIMITS, QUEUE_NAME_RE, type PublicJwk } from "../../src/protocol/client.js";
import { AgentError } from "./errors.js";
import { readPublicKeys } from "./key-options.js";
import { LOG_LEVELS, type LogLevel } from "./log.js";
import type { PrefetchSetting } from "./prefetch.js";

declare const __AGENT_VERSION__: string | undefined;
export const AGENT_VERSION = typeof __AGENT_VERSION__ === "string" ? __AGENT_VERSION__ : "0.0.0-dev";

export const DEFAULTS = {
  queue: DEFAULT_QUEUE,
  waitSeconds: LIMITS.maxWaitSeconds,
  clockSkewMs: CLOCK_SKEW_MS,
  maxMemoryMb: 512,
  /** Tasks run below the volunteer's own programs, as BOINC runs its science apps (see sandbox-fork.ts). */
  nice: 10,
  heartbeatMs: 5_000,
  prefetch: "auto" as PrefetchSetting,
  shutdownGraceMs: 30_000,
  logLevel: "info" as LogLevel,
} as const;

export interface AgentConfig {
  url: string;
  /** The shared agent token: used once, to enroll; the agent clears this field once it has its own credential. */
  token: string;
  /** The coordinator's keys (several while a key rotates). */
  publicKeys: PublicJwk[];
  /** Submitters whose signed tasks alone this agent runs (--trust-submitter); empty: signatures are not required. */
  trustedSubmitters: PublicJwk[];
  /** Tasks may use fetch (--allow-net); otherwise the sandbox has no network. */
  allowNet: boolean;
  /** One POST /v1/agent/exchange per cycle carries results, confirmations and the next poll (default; --no-exchange polls and posts results apart). */
  exchange: boolean;
  queue: string;
  concurrency: number;
  /**
   * Tasks held beyond `concurrency`, waiting locally for a free slot (--prefetch):
   * a number, or "auto" (see prefetch.ts). 0 keeps the coordinator from ever
   * seeing more leases than slots.
   */
  prefetch: PrefetchSetting;
  /** Sent when enrolling; the coordinator makes the agent id from it. */
  name: string;
  labels: string[];
  waitSeconds: number;
  clockSkewMs: number;
  maxMemoryMb: number;
  /** Scheduling niceness of the sandbox children, 0 (as the agent) to 19 (only when the machine is otherwise idle). */
  nice: number;
  heartbeatMs: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
}

export type LoadedConfig = { action: "help" } | { action: "version" } | { action: "run"; config: AgentConfig };

// flag name → environment variable; each flag takes a value.
const VALUE_FLAGS = {
  url: "DIST_URL",
  token: "DIST_AGENT_TOKEN",
  "public-key": "DIST_PUBLIC_KEY",
  "trust-submitter": "DIST_TRUST_SUBMITTER",
  queue: "DIST_QUEUE",
  concurrency: "DIST_CONCURRENCY",
  prefetch: "DIST_PREFETCH",
  name: "DIST_NAME",
  labels: "DIST_LABELS",
  wait: "DIST_WAIT",
  "clock-skew-ms": "DIST_CLOCK_SKEW_MS",
  "max-memory-mb": "DIST_MAX_MEMORY_MB",
  nice: "DIST_NICE",
  "heartbeat-ms": "DIST_HEARTBEAT_MS",
  "shutdown-grace-ms": "DIST_SHUTDOWN_GRACE_MS",
  "log-level": "DIST_LOG_LEVEL",
} as const;
type ValueFlag = keyof typeof VALUE_FLAGS;
/** Flags that may be given more than once; their values add up. */
const REPEATABLE = new Set<ValueFlag>(["public-key", "trust-submitter"]);
const BOOLEAN_FLAGS = { "allow-net": "DIST_ALLOW_NET", "no-exchange": "DIST_NO_EXCHANGE" } as const;
const NAME_RE = /^[A-Za-z0-9_-]{1,48}$/;

/** The --help text: every flag, its environment variable and its default. */
export function usage(): string {
  const rows: Array<[string, string, string]> = [
    ["--url <url>", "coordinator base URL (required)", "DIST_URL"],
    ["--token <token>", "shared agent token, used once to enroll (required; prefer the env var: argv is visible to ps)", "DIST_AGENT_TOKEN"],
    ["--public-key <key>", "coordinator public key(s) to pin: base64url x (comma-separated for several), JWK/JWKS JSON, or a file; repeatable (required)", "DIST_PUBLIC_KEY"],
    ["--trust-submitter <key>", "run only tasks signed by these submitter keys (same forms; repeatable); others are refused as submitter_untrusted", "DIST_TRUST_SUBMITTER"],
    ["--allow-net", "let tasks use fetch (off by default: tasks have no network)", "DIST_ALLOW_NET=1"],
    ["--no-exchange", "poll and post results apart (by default results, confirmations and the next poll share one request, POST /v1/agent/exchange)", "DIST_NO_EXCHANGE=1"],
    ["--queue <name>", `queue to serve (default ${DEFAULTS.queue})`, "DIST_QUEUE"],
    ["--concurrency <n>", `tasks run at once (default: CPU count, here ${availableParallelism()})`, "DIST_CONCURRENCY"],
    ["--prefetch <n|auto>", "tasks held beyond --concurrency, waiting for a free slot; auto holds about 250 ms of work (default auto)", "DIST_PREFETCH"],
    ["--name <name>", "agent name, 1-48 of A-Z a-z 0-9 _ -; the coordinator assigns the id <name>-<random> (default: host name)", "DIST_NAME"],
    ["--labels <a,b,...>", "comma-separated labels sent with each poll", "DIST_LABELS"],
    ["--wait <seconds>", `long-poll wait, at most ${LIMITS.maxWaitSeconds} (default ${DEFAULTS.waitSeconds})`, "DIST_WAIT"],
    ["--clock-skew-ms <ms>", `allowed clock difference (default ${DEFAULTS.clockSkewMs})`, "DIST_CLOCK_SKEW_MS"],
    ["--max-memory-mb <mb>", `sandbox heap limit per slot; a slot also dies past this + 256 MB resident (default ${DEFAULTS.maxMemoryMb})`, "DIST_MAX_MEMORY_MB"],
    ["--nice <0-19>", `scheduling priority of the tasks: 0 as other programs, 19 only when the machine is otherwise idle (default ${DEFAULTS.nice})`, "DIST_NICE"],
    ["--heartbeat-ms <ms>", `heartbeat interval while tasks run (default ${DEFAULTS.heartbeatMs})`, "DIST_HEARTBEAT_MS"],
    ["--shutdown-grace-ms <ms>", `time running tasks get on SIGINT/SIGTERM (default ${DEFAULTS.shutdownGraceMs})`, "DIST_SHUTDOWN_GRACE_MS"],
    ["--log-level <level>", `debug, info, warn or error (default ${DEFAULTS.logLevel})`, "DIST_LOG_LEVEL"],
    ["-h, --help", "print this help", ""],
    ["-v, --version", "print the version", ""],
  ];
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.map(([flag, text, env]) => `  ${flag.padEnd(width)}${text}${env ? `\n  ${"".padEnd(width)}  env ${env}` : ""}`);
  return [
    "Usage: dist-agent --url <coordinator> --token <agent token> --public-key <key> [options]",
    "       dist-agent keys generate [--out <file>]     make an Ed25519 key pair (see: dist-agent keys --help)",
    "       dist-agent sign --key <file> --fn <file.js> --inputs <inputs.json>   sign a batch (see: dist-agent sign --help)",
    "",
    "Runs JavaScript tasks from a dist coordinator in a sandbox on this machine. At start it enrolls",
    "with the agent token and then uses only the credential the coordinator gives it.",
    "Flags win over environment variables.",
    "",
    ...lines,
    "",
    "The first SIGINT/SIGTERM stops polling, lets running tasks finish within --shutdown-grace-ms and hands",
    "the rest back to the queue (no attempt spent); a second one exits at once.",
    "Exit codes: 0 stopped, 2 bad configuration, refused token or revoked agent, 1 unexpected error,",
    "130 second signal.",
  ].join("\n");
}

function fail(code: string, message: string): never {
  throw new AgentError(code, message);
}

function int(flag: ValueFlag, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) fail("bad_option", `--${flag} must be a whole number`);
  const n = Number(text.trim());
  if (n < min || n > max) fail("bad_option", `--${flag} must be between ${min} and ${max}`);
  return n;
}

/** The host name made into an agent name: 1-48 of A-Z a-z 0-9 _ - (dots and the rest become "-"). */
function nameFromHost(host: string): string {
  return host.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 48) || "agent";
}

/**
 * Joins `--flag value` into `--flag=value` for flags that take a value, so a
 * value starting with "-" (a base64url key or a token can) is not mistaken
 * for an option, which parseArgs refuses as ambiguous.
 */
function joinValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg.startsWith("--") && Object.hasOwn(VALUE_FLAGS, arg.slice(2)) && next !== undefined) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

export async function loadConfig(argv: string[], env: Record<string, string | undefined>): Promise<LoadedConfig> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(VALUE_FLAGS).map((k) => [k, { type: "string" as const, multiple: REPEATABLE.has(k as ValueFlag) }]));
    ({ values } = parseArgs({
      args: joinValues(argv),
      options: { ...options, "allow-net": { type: "boolean" }, "no-exchange": { type: "boolean" }, exchange: { type: "boolean" }, help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail("bad_option", (err as Error).message.replace(/\s+/g, " "));
  }
  if (values.help) return { action: "help" };
  if (values.version) return { action: "version" };

  const get = (flag: ValueFlag): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const e = env[VALUE_FLAGS[flag]];
    return e === undefined || e === "" ? undefined : e;
  };
  const required = (flag: ValueFlag): string =>
    get(flag)?.trim() || fail("missing_option", `--${flag} (or ${VALUE_FLAGS[flag]}) is required; see --help`);
  /** A repeatable flag's values, or else its environment variable's. */
  const all = (flag: ValueFlag): string[] => {
    const v = values[flag];
    if (Array.isArray(v) && v.length > 0) return v;
    const e = env[VALUE_FLAGS[flag]];
    return e === undefined || e === "" ? [] : [e];
  };

  const url = required("url");
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    return fail("bad_option", "--url is not a URL");
  }
  if (parsedUrl.protocol !== "http:" && parsedUrl.protocol !== "https:") fail("bad_option", "--url must be http:// or https://");
  const token = required("token");
  if (all("public-key").length === 0) required("public-key");
  const publicKeys = await readPublicKeys(all("public-key"), "public-key", "bad_public_key");
  const trust = all("trust-submitter");
  const trustedSubmitters = trust.length > 0 ? await readPublicKeys(trust, "trust-submitter", "bad_trust_key") : [];
  const flagOn = (flag: keyof typeof BOOLEAN_FLAGS): boolean => {
    const fromEnv = env[BOOLEAN_FLAGS[flag]];
    return values[flag] === true || (fromEnv !== undefined && /^(1|true|yes)$/i.test(fromEnv));
  };
  const allowNet = flagOn("allow-net");
  // --exchange, once opt-in, is the default now and still accepted.
  const exchange = !flagOn("no-exchange");

  const queue = get("queue") ?? DEFAULTS.queue;
  if (!QUEUE_NAME_RE.test(queue)) fail("bad_option", `--queue must match ${QUEUE_NAME_RE.source}`);
  const labels = (get("labels") ?? "").split(",").map((l) => l.trim()).filter(Boolean);
  if (labels.length > 32 || labels.some((l) => l.length > 64)) fail("bad_option", "--labels: at most 32 labels of at most 64 characters");
  const logLevel = (get("log-level") ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) fail("bad_option", `--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  const givenName = get("name");
  if (givenName !== undefined && !NAME_RE.test(givenName)) fail("bad_option", "--name must be 1-48 of A-Z a-z 0-9 _ -");
  const name = givenName ?? nameFromHost(hostname());
  const opt = (flag: ValueFlag, fallback: number, min: number, max: number): number => {
    const text = get(flag);
    return text === undefined ? fallback : int(flag, text, min, max);
  };

  const prefetchText = get("prefetch")?.trim();
  const prefetch: PrefetchSetting = prefetchText === undefined || prefetchText === "auto" ? DEFAULTS.prefetch : int("prefetch", prefetchText, 0, LIMITS.maxSlots);

  return {
    action: "run",
    config: {
      url: parsedUrl.href.replace(/\/+$/, ""),
      token,
      publicKeys,
      trustedSubmitters,
      allowNet,
      exchange,
      queue,
      concurrency: opt("concurrency", Math.min(availableParallelism(), LIMITS.maxSlots), 1, LIMITS.maxSlots),
      prefetch,
      name,
      labels,
      waitSeconds: opt("wait", DEFAULTS.waitSeconds, 0, LIMITS.maxWaitSeconds),
      clockSkewMs: opt("clock-skew-ms", DEFAULTS.clockSkewMs, 0, 3_600_000),
      maxMemoryMb: opt("max-memory-mb", DEFAULTS.maxMemoryMb, 16, 1_048_576),
      nice: opt("nice", DEFAULTS.nice, 0, 19),
      heartbeatMs: opt("heartbeat-ms", DEFAULTS.heartbeatMs, 100, 3_600_000),
      shutdownGraceMs: opt("shutdown-grace-ms", DEFAULTS.shutdownGraceMs, 0, 86_400_000),
      logLevel,
    },
  };
}
