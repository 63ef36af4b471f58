// Shared machinery of the fault-injection cases: the job every case runs,
// a fleet of real agent processes that can be SIGKILLed and replaced, a
// results follower that rides out coordinator faults, a "ghost" poller that
// hangs up, and a scope that stops everything a case started (by PID).

import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";

export type Api = ReturnType<typeof submitter>;

/**
 * The job of every case: n ↦ n², checkable per index. One job in twenty
 * (n % 20 === 7) sleeps 50–500 ms, the rest return at once.
 */
export const SQUARE_FN =
  "async (n) => { if (n % 20 === 7) await new Promise((r) => setTimeout(r, 50 + ((n * 37) % 451))); return n * n; }";
export const square = (n: number): number => n * n;
export const inputs = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- stopping everything a case started ---

const openScopes = new Set<Scope>();

/** What one case started; close() stops it all, newest first. */
export class Scope {
  private readonly stops: Array<() => Promise<void>> = [];
  constructor() {
    openScopes.add(this);
  }
  add<T>(thing: T, stop: (thing: T) => Promise<void>): T {
    this.stops.push(() => stop(thing));
    return thing;
  }
  async close(): Promise<void> {
    openScopes.delete(this);
    for (const stop of this.stops.splice(0).reverse()) await stop().catch(() => {});
  }
}

/** For afterAll: stops whatever a case that failed or timed out left running. */
export async function closeAllScopes(): Promise<void> {
  for (const scope of [...openScopes]) await scope.close();
}

// --- processes ---

/** Direct children of `pid` (the agent's sandbox processes), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    /* the process is gone */
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Waits up to `ms` for these PIDs to exit on their own, then SIGKILLs the rest. Returns how many had to be killed. */
export async function reap(pids: number[], ms = 2_000): Promise<number> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  const left = pids.filter(alive);
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone meanwhile */
    }
  }
  return left.length;
}

export interface FleetOptions {
  url: string;
  agentToken: string;
  publicKey: string;
  size: number;
  concurrency: number;
  queue?: string;
  name?: string;
}

/** N agent processes; any one can be SIGKILLed and replaced by a fresh process (a new agent id). */
export class Fleet {
  readonly agents: AgentProc[] = [];
  /** Every agent process ever started, for stop(). */
  private readonly started: AgentProc[] = [];
  kills = 0;
  /** Sandbox processes a SIGKILLed agent left behind that had to be killed by PID. */
  orphansKilled = 0;
  freezes = 0;
  private stopped = false;

  constructor(private readonly opts: FleetOptions) {}

  private async spawn(i: number): Promise<AgentProc> {
    const { url, agentToken, publicKey, concurrency, queue, name } = this.opts;
    const agent = await startAgent({
      url,
      token: agentToken,
      publicKey,
      concurrency,
      queue,
      name: `${name ?? "fault"}${i}`,
      args: ["--shutdown-grace-ms", "2000"],
    });
    this.started.push(agent);
    return agent;
  }

  async start(): Promise<void> {
    const agents = await Promise.all(Array.from({ length: this.opts.size }, (_, i) => this.spawn(i)));
    this.agents.push(...agents);
  }

  /** SIGKILLs agent `i` (its sandbox children are reaped by PID), then starts a replacement in its place. */
  async killAndReplace(i: number): Promise<void> {
    if (this.stopped) return;
    const victim = this.agents[i]!;
    const children = childPids(victim.pid);
    victim.kill("SIGKILL");
    await victim.exited;
    this.kills++;
    this.orphansKilled += await reap(children);
    this.agents[i] = await this.spawn(i);
    if (this.stopped) await this.agents[i].stop(); // stop() ran while it was starting
  }

  /** Freezes agent `i` (SIGSTOP) for `ms`, then lets it go on (SIGCONT): a partitioned, not a dead, agent. */
  async freeze(i: number, ms: number): Promise<void> {
    if (this.stopped) return;
    const agent = this.agents[i]!;
    agent.kill("SIGSTOP");
    this.freezes++;
    await sleep(ms);
    agent.kill("SIGCONT");
  }

  /** Log lines matching `re` over every agent process this fleet started (for reports, not for verdicts). */
  countLines(re: RegExp): number {
    return this.started.reduce((n, agent) => n + agent.lines.filter((l) => re.test(l)).length, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      this.started.map(async (agent) => {
        agent.kill("SIGCONT"); // a frozen agent cannot act on SIGTERM
        const children = childPids(agent.pid);
        await agent.stop();
        await reap(children, 1_000);
      }),
    );
  }
}

// --- following results through faults ---

export interface Followed {
  /** Completion-stream entries seen (duplicates included: the audit judges them). */
  entries: number;
  /** Answers that were 5xx or failed connections, each retried. */
  unavailable: number;
}

/**
 * Follows a batch's completion stream with long-polls until it is done,
 * retrying through 503s and refused connections (a restarting coordinator).
 * `onEntries` sees the running count after each page.
 */
export async function followBatch(api: Api, batchId: string, timeoutMs: number, onEntries?: (n: number) => void): Promise<Followed> {
  const deadline = Date.now() + timeoutMs;
  const out: Followed = { entries: 0, unavailable: 0 };
  let after = 0;
  while (Date.now() < deadline) {
    let page;
    try {
      page = await api.call("GET", `/v1/batches/${batchId}/results?after=${after}&wait=5&limit=1000`);
    } catch {
      page = { status: 0, body: null };
    }
    if (page.status !== 200) {
      if (page.status !== 0 && page.status < 500) throw new Error(`results: ${page.status} ${JSON.stringify(page.body)}`);
      out.unavailable++;
      await sleep(200);
      continue;
    }
    out.entries += page.body.results.length;
    after = page.body.next;
    onEntries?.(out.entries);
    if (page.body.done) return out;
  }
  throw new Error(`batch ${batchId} not done after ${timeoutMs} ms (${out.entries} results seen)`);
}

/** Polls a job until `pred` holds (or throws after `timeoutMs`); returns the job view. */
export async function waitForJob(api: Api, jobId: string, pred: (job: any) => boolean, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let job: any = null;
  while (Date.now() < deadline) {
    const reply = await api.call("GET", `/v1/jobs/${jobId}`).catch(() => null);
    if (reply?.status === 200) {
      job = reply.body;
      if (pred(job)) return job;
    }
    await sleep(50);
  }
  throw new Error(`job ${jobId} did not reach the expected state within ${timeoutMs} ms: ${JSON.stringify(job)}`);
}

// --- a poller that goes away ---

/**
 * Opens POST /v1/agent/poll as `agentId` and hangs up once the request has
 * had time to park in the queue object: the coordinator is not told (the
 * platform does not report it), so it will hand the next task to this ghost.
 */
export async function ghostPoll(url: string, agentToken: string, name: string, queue: string): Promise<string> {
  const target = new URL(url);
  // A ghost is a real enrolled agent that walks away from its poll.
  const enrolled = await fetch(`${url}/v1/agent/enroll`, {
    method: "POST",
    headers: { authorization: `Bearer ${agentToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (enrolled.status !== 201) throw new Error(`ghost enroll: ${enrolled.status}`);
  const { agentId, credential } = (await enrolled.json()) as { agentId: string; credential: string };
  const body = JSON.stringify({ slots: 1, wait: 25, queue });
  const req = request({
    host: target.hostname,
    port: target.port,
    method: "POST",
    path: "/v1/agent/poll",
    headers: {
      authorization: `Bearer ${credential}`,
      "x-agent-id": agentId,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    },
  });
  req.on("error", () => {});
  req.end(body);
  await sleep(300);
  req.destroy();
  return agentId;
}
