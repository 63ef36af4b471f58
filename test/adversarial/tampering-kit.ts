// What the tampering group's cases share: the job every case runs, the
// coordinator and agents they run against, the proxy moves (serve an old
// envelope, swallow a fresh one), and the judge. A verdict comes from two
// witnesses that are not the agent under test: the proxy (what the agent
// posted back for the leases it was shown) and the coordinator (the job's
// attempt history and result).
//
//   refused   no result other than `rejected` for any lease the agent was
//             shown, and the coordinator's attempt is not `ok`
//   reported  the agent posted `rejected: <code>` for a lease it was shown
//   executed  a non-rejected result for such a lease (must be 0)
//   after     the job still ends `done` with the value of its real input
//             (or, for a job no trusted submitter signed, `failed` unrun)
//   survived  the agent process lived through it

import { spawnSync } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import { generateSigningKey, importSigningKey, type Envelope, type TaskPayload } from "../../src/protocol/client.js";
import { AGENT_CLI, startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";
import type { TamperContext, TamperProxy } from "../helpers/tamper.js";
import { stopAgent, type Scope } from "./scope.js";

export interface TamperVerdict {
  name: string;
  part: string;
  expect: string[];
  /** The code the agent reported (or "—"). */
  seen: string;
  refused: boolean;
  reported: boolean;
  /** Whether a report was possible at all (the tampering left a readable lease id). */
  readable: boolean;
  executed: number;
  /** The coordinator's record of the tampered attempt. */
  history: string;
  /** The job afterwards: done with the right value. */
  after: boolean;
  /** The agent lived through it (a refusal must not cost the volunteer its agent). */
  survived: boolean;
}

/** Every case's function: its input back, so a run on tampered input or code shows in the value. */
export const FN = "(c) => ({ case: c, ran: true })";
export const expected = (input: unknown) => ({ case: input, ran: true });
export const EVIL_FN = "() => 'pwned'";

export type Api = ReturnType<typeof submitter>;
export interface Env {
  coord: Coordinator;
  api: Api;
  ctx: TamperContext;
}

/** An envelope with its payload parsed; undefined for none (or one that is not a task payload). */
export function opened(envelope: Envelope | null): { envelope: Envelope; payload: TaskPayload } | undefined {
  try {
    return envelope ? { envelope, payload: JSON.parse(envelope.payload) as TaskPayload } : undefined;
  } catch {
    return undefined;
  }
}

export function attemptText(h: any): string {
  if (!h) return "—";
  const code = h.rejected ?? h.error?.code;
  return code ? `${h.outcome}:${code}` : h.outcome;
}

export async function coordinatorEnv(scope: Scope, vars: Record<string, string>): Promise<Env> {
  const coord = scope.add(await startCoordinator({ vars }), (c) => c.stop());
  const api = submitter(coord.url, coord.submitToken);
  const evil = await api.call("POST", "/v1/functions", { source: EVIL_FN });
  if (evil.status !== 201) throw new Error(`register evil function: ${evil.status}`);
  const rogue = await importSigningKey((await generateSigningKey()).pkcs8Base64);
  return { coord, api, ctx: { real: await importSigningKey(coord.signingKey), rogue, evilFnHash: evil.body.fnHash } };
}

export async function agentBehind(scope: Scope, env: Env, proxy: TamperProxy, name: string, queue: string, args: string[] = []): Promise<AgentProc> {
  return scope.add(
    await startAgent({ url: proxy.url, token: env.coord.agentToken, publicKey: env.coord.publicKey, concurrency: 1, name, queue, args: ["--wait", "1", ...args] }),
    stopAgent,
  );
}

/** Judges one tampered attempt from the proxy's and the coordinator's records. */
export async function judge(env: Env, proxy: TamperProxy, c: { name: string; part: string; expect: string[]; readable?: boolean }, jobId: string, attempt: number, leases: string[], input: unknown, opts: { ranBefore?: number; leaseUnknown?: boolean; endsFailed?: boolean; by?: string } = {}): Promise<TamperVerdict> {
  const job = (await env.api.call("GET", `/v1/jobs/${jobId}`)).body;
  const hist = job?.history?.find((h: any) => h.attempt === attempt);
  const mine = proxy.reported.filter((r) => leases.includes(r.leaseId));
  // `by`: the refusal of the agent under test. An envelope replayed earlier in the suite may have carried
  // this lease too (tasks share envelopes as timing has it), and another agent refused it then.
  const rejected = mine.find((r) => r.rejected && (opts.by === undefined || r.agentId === opts.by));
  const executed = Math.max(0, mine.filter((r) => !r.rejected).length - (opts.ranBefore ?? 0));
  return {
    name: c.name,
    part: c.part,
    expect: c.expect,
    seen: rejected?.rejected ?? "—",
    // A lease that ran before (or that the coordinator never issued) has an attempt of its own to judge by.
    refused: executed === 0 && (opts.ranBefore || opts.leaseUnknown ? true : hist?.outcome !== "ok"),
    reported: rejected !== undefined,
    readable: c.readable !== false,
    executed,
    history: opts.leaseUnknown ? "— (a lease the coordinator never issued)" : opts.ranBefore ? `${attemptText(hist)} (ran before)` : attemptText(hist),
    // A job no trusted submitter signed must never run: it ends failed, every attempt refused.
    after: opts.endsFailed
      ? job?.state === "failed" && job.history.every((h: any) => h.outcome !== "ok")
      : job?.state === "done" && isDeepStrictEqual(job.value, expected(input)),
    survived: true,
  };
}

/** Throws with what the agent was doing: alive or not, its last log lines. */
export async function explain(what: string, agent: AgentProc): Promise<never> {
  const state = agent.proc.exitCode !== null || agent.proc.signalCode !== null ? `exited (code=${agent.proc.exitCode} signal=${agent.proc.signalCode})` : "alive";
  throw new Error(`${what}; agent ${agent.agentId} ${state}; its last lines:\n${agent.lines.slice(-15).join("\n")}`);
}

/** Answers the next poll of `agentId` (whatever the coordinator said) with `envelope`. */
export function serveNext(proxy: TamperProxy, agentId: () => string, envelope: Envelope, then: () => void = () => {}): void {
  const previous = proxy.onEnvelope;
  proxy.onEnvelope = (ex, sent) => {
    if (ex.agentId !== agentId()) return previous?.(ex, sent);
    proxy.onEnvelope = previous;
    then();
    return { envelope };
  };
}

/** Swallows (answers "no work") the first envelope carrying a task whose input is `marker`; resolves with it. */
export function swallow(proxy: TamperProxy, marker: string, agent: () => AgentProc, timeoutMs = 15_000): Promise<{ envelope: Envelope; payload: TaskPayload }> {
  return new Promise((resolve, reject) => {
    const previous = proxy.onEnvelope;
    const timer = setTimeout(() => {
      proxy.onEnvelope = previous;
      explain(`no poll answer carried the task marked ${marker} within ${timeoutMs} ms`, agent()).catch(reject);
    }, timeoutMs);
    proxy.onEnvelope = (ex, sent) => {
      const got = opened(sent);
      if (!got || !got.payload.tasks.some((t) => isDeepStrictEqual(t.input, { scenario: marker }))) return previous?.(ex, sent);
      proxy.onEnvelope = previous;
      clearTimeout(timer);
      resolve(got);
      return { envelope: null };
    };
  });
}

export const reportFor = (proxy: TamperProxy, leaseId: string, agentId?: string) => () =>
  proxy.reported.find((r) => r.leaseId === leaseId && r.rejected && (agentId === undefined || r.agentId === agentId));


/** Whether the built agent knows a flag (its --help names it): optional transports are tested where they exist. */
export function agentSupports(flag: string): boolean {
  const help = spawnSync(process.execPath, [AGENT_CLI, "--help"], { encoding: "utf8", timeout: 10_000 });
  return `${help.stdout}`.includes(flag);
}

/** What a run of envelope cases leaves for the scenarios: its proxy, its (last) agent, its batch. */
export interface CaseRun {
  verdicts: TamperVerdict[];
  proxy: TamperProxy;
  agent: AgentProc;
  batchId: string;
  jobIds: string[];
}
