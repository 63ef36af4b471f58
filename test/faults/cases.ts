// The five fault-injection cases as plain async functions, sized by their
// caller: test/faults/*.test.ts runs them at full size, the small version in
// test/node/faults-small.test.ts at a size `npm test` can afford. Each case
// starts its own coordinator process and agents, stops them all (by PID)
// whatever happens, audits the batch from the coordinator's own records and
// prints its table before returning it for the caller's assertions.

import { auditBatch, auditRow, formatMs, printTable, type Audit, type TableRow } from "../helpers/audit.js";
import { seededRandom, startChaosProxy, type ChaosCounts, type ChaosOptions } from "../helpers/chaos-proxy.js";
import { submitter } from "../helpers/client.js";
import { startCoordinatorProcess, type CoordinatorProcess } from "../helpers/coordinator-process.js";
import { Fleet, followBatch, ghostPoll, inputs, Scope, sleep, square, SQUARE_FN, waitForJob, type Api } from "./harness.js";

export interface CaseResult {
  audit: Audit;
  wallMs: number;
  row: TableRow;
}

/** A job that sleeps `ms` and returns ms², to keep a result waiter parked. */
const SLEEP_FN = "async (ms) => { await new Promise((r) => setTimeout(r, ms)); return ms * ms; }";

/** Short leases so work held by a killed agent comes back quickly; a generous failure budget. */
const JOB_OPTIONS = { timeoutMs: 2_000, graceMs: 1_000, maxAttempts: 10 } as const;

async function submit(api: Api, body: Record<string, unknown>): Promise<{ batchId: string; jobIds: string[] }> {
  const reply = await api.call("POST", "/v1/jobs", body);
  if (reply.status !== 201) throw new Error(`submit: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Waits for both (a fault loop must not outlive its case), then rethrows the first failure. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  await Promise.allSettled([a, b]);
  return [await a, await b];
}

async function coordinator(scope: Scope, vars?: Record<string, string>): Promise<{ coord: CoordinatorProcess; api: Api }> {
  const coord = scope.add(await startCoordinatorProcess({ vars }), (c) => c.stop());
  return { coord, api: submitter(coord.url, coord.submitToken) };
}

async function fleet(scope: Scope, coord: CoordinatorProcess, opts: { url?: string; size: number; concurrency: number; queue?: string; name: string }): Promise<Fleet> {
  const { url, ...rest } = opts;
  const f = scope.add(new Fleet({ ...rest, url: url ?? coord.url, agentToken: coord.agentToken, publicKey: coord.publicKey }), (x) => x.stop());
  await f.start();
  return f;
}

async function finish(name: string, api: Api, batchId: string, jobs: number, wallMs: number, extra: TableRow, expected = square): Promise<CaseResult> {
  const audit = await auditBatch(api, batchId, jobs, expected);
  const row = auditRow(audit, wallMs, extra);
  printTable(name, row);
  if (audit.inconsistent.length) console.log(`${name}: inconsistent records:\n  ${audit.inconsistent.join("\n  ")}`);
  return { audit, wallMs, row };
}

/**
 * Agents SIGKILLed and replaced, one at a time at random, while a batch runs;
 * optionally also frozen (SIGSTOP) past their leases and thawed (SIGCONT), so
 * they come back with results for work that was handed to others meanwhile.
 */
export async function agentKills(o: {
  jobs: number;
  agents: number;
  concurrency: number;
  kills: number;
  /** A kill every min..max ms (uniform), starting right after the submission. */
  killEveryMs: [number, number];
  /** Agents frozen for `freezeMs` each, one at a time, from halfway through the kills. */
  freezes?: number;
  freezeMs?: number;
  seed?: number;
  timeoutMs: number;
}): Promise<CaseResult & { kills: number; freezes: number }> {
  const scope = new Scope();
  try {
    const { coord, api } = await coordinator(scope);
    const agents = await fleet(scope, coord, { size: o.agents, concurrency: o.concurrency, name: "kill" });
    const random = seededRandom(o.seed ?? 7);
    const t0 = Date.now();
    const { batchId } = await submit(api, { fn: SQUARE_FN, inputs: inputs(o.jobs), ...JOB_OPTIONS });
    let finished = false;
    let wallMs = 0;
    const follow = followBatch(api, batchId, o.timeoutMs).finally(() => {
      finished = true;
      wallMs = Date.now() - t0;
    });
    const killer = (async () => {
      while (agents.kills < o.kills && !finished) {
        await sleep(o.killEveryMs[0] + random() * (o.killEveryMs[1] - o.killEveryMs[0]));
        if (!finished) await agents.killAndReplace(Math.floor(random() * o.agents));
      }
    })();
    const freezer = (async () => {
      for (let i = 0; i < (o.freezes ?? 0) && !finished; i++) {
        while (!finished && agents.kills < o.kills / 2 + i) await sleep(50);
        if (!finished) await agents.freeze(Math.floor(random() * o.agents), o.freezeMs ?? 4_000);
      }
    })();
    await settleBoth(follow, Promise.all([killer, freezer]));
    const result = await finish(`agent SIGKILLs: ${o.jobs} jobs on ${o.agents} agents`, api, batchId, o.jobs, wallMs, {
      agents: `${o.agents}×${o.concurrency}`,
      "SIGKILL+restart": agents.kills,
      ...(o.freezes ? { [`SIGSTOP ${formatMs(o.freezeMs ?? 4_000)}`]: agents.freezes } : {}),
      "orphans reaped": agents.orphansKilled,
    });
    return { ...result, kills: agents.kills, freezes: agents.freezes };
  } finally {
    await scope.close();
  }
}

/** The coordinator process group SIGKILLed and restarted on its persisted state, mid-batch. */
export async function coordinatorRestarts(o: { jobs: number; agents: number; concurrency: number; restarts: number; downMs: number; timeoutMs: number }): Promise<CaseResult & { restarts: number }> {
  const scope = new Scope();
  try {
    const { coord, api } = await coordinator(scope);
    await fleet(scope, coord, { size: o.agents, concurrency: o.concurrency, name: "restart" });
    const t0 = Date.now();
    const { batchId } = await submit(api, { fn: SQUARE_FN, inputs: inputs(o.jobs), ...JOB_OPTIONS });
    let seen = 0;
    let finished = false;
    let restarts = 0;
    let wallMs = 0;
    const follow = followBatch(api, batchId, o.timeoutMs, (n) => (seen = n)).finally(() => {
      finished = true;
      wallMs = Date.now() - t0;
    });
    const crasher = (async () => {
      for (let i = 1; i <= o.restarts; i++) {
        // Crash at evenly spaced points of the batch: 1/(n+1), 2/(n+1), ...
        while (!finished && seen < (o.jobs * i) / (o.restarts + 1)) await sleep(20);
        if (finished) return;
        await coord.kill();
        await sleep(o.downMs);
        await coord.restart();
        restarts++;
      }
    })();
    const [followed] = await settleBoth(follow, crasher);
    const result = await finish(`coordinator SIGKILL+restart: ${o.jobs} jobs on ${o.agents} agents`, api, batchId, o.jobs, wallMs, {
      "coordinator restarts": restarts,
      "down each": formatMs(o.downMs),
      "follower retries": followed.unavailable,
    });
    return { ...result, restarts };
  } finally {
    await scope.close();
  }
}

/** Agents reach the coordinator only through a proxy that drops, delays and duplicates. */
export async function chaosProxy(o: { jobs: number; agents: number; concurrency: number; chaos: ChaosOptions; timeoutMs: number }): Promise<CaseResult & { counts: ChaosCounts }> {
  const scope = new Scope();
  try {
    const { coord, api } = await coordinator(scope);
    const proxy = scope.add(await startChaosProxy(coord.url, o.chaos), (p) => p.close());
    await fleet(scope, coord, { url: proxy.url, size: o.agents, concurrency: o.concurrency, name: "chaos" });
    const t0 = Date.now();
    const { batchId } = await submit(api, { fn: SQUARE_FN, inputs: inputs(o.jobs), ...JOB_OPTIONS });
    await followBatch(api, batchId, o.timeoutMs);
    const wallMs = Date.now() - t0;
    console.log(proxy.report());
    const c = proxy.counts;
    const result = await finish(`chaos proxy: ${o.jobs} jobs on ${o.agents} agents`, api, batchId, o.jobs, wallMs, {
      "agent requests": c.requests,
      "dropped requests": c.droppedRequests,
      "dropped answers": c.droppedResponses,
      delayed: c.delayed,
      "results sent twice": c.duplicatedResults,
      "results held past lease": c.stalledResults,
      "answered stale": `${c.answeredStale} (${c.staleAfterStall} held)`,
    });
    return { ...result, counts: { ...c } };
  } finally {
    await scope.close();
  }
}

/**
 * A task handed to a long-poll whose client hung up. A real agent is parked
 * behind the ghost; the task must come back (delivery lease) and be done by
 * that agent, although the job's own lease (timeoutMs + grace) is 70 s.
 */
export async function vanishedPoller(o: { deliveryLeaseMs?: number; timeoutMs: number }): Promise<CaseResult & { rescueMs: number; ghostHadIt: boolean; doneBy: string | null; agentId: string }> {
  const scope = new Scope();
  try {
    const vars = o.deliveryLeaseMs ? { DELIVERY_LEASE_MS: String(o.deliveryLeaseMs) } : undefined;
    const { coord, api } = await coordinator(scope, vars);
    const queue = "ghost";
    const ghostId = await ghostPoll(coord.url, coord.agentToken, "ghost", queue);
    const agents = await fleet(scope, coord, { size: 1, concurrency: 1, queue, name: "rescuer" });
    await sleep(500); // the real agent's poll is now parked behind the ghost's
    const t0 = Date.now();
    const { batchId, jobIds } = await submit(api, { fn: SQUARE_FN, inputs: [12], queue, timeoutMs: 60_000, graceMs: 10_000 });
    await followBatch(api, batchId, o.timeoutMs);
    const rescueMs = Date.now() - t0;
    const job = await waitForJob(api, jobIds[0]!, (j) => j.state === "done", 5_000);
    const first = job.history[0];
    const last = job.history.at(-1);
    const result = await finish("vanished poller: 1 job handed to a ghost", api, batchId, 1, rescueMs, {
      "handed first to": `${first?.agentId} (${first?.outcome})`,
      "done by": last?.agentId ?? "-",
      "delivery lease": formatMs(o.deliveryLeaseMs ?? 10_000),
    }, () => square(12));
    return { ...result, rescueMs, ghostHadIt: first?.agentId === ghostId, doneBy: last?.agentId ?? null, agentId: agents.agents[0]!.agentId };
  } finally {
    await scope.close();
  }
}

/**
 * The queue's Durable Object restarted, losing its in-memory waiters, in
 * rounds: each time every agent sits in a parked long-poll and a submitter
 * waits on a result. The parked callers must be told (503) and come back by
 * themselves: the submitter gets its result, and the next batch reaches the
 * agents promptly and completes.
 */
export async function waitersLost(o: { rounds: number; jobsPerRound: number; agents: number; concurrency: number; timeoutMs: number }): Promise<CaseResult & { resets: number; parkedWaiter503s: number; worstFirstResultMs: number }> {
  const scope = new Scope();
  try {
    const { coord, api } = await coordinator(scope, { FAULT_INJECTION: "1" });
    const queue = "waiters";
    const agents = await fleet(scope, coord, { size: o.agents, concurrency: o.concurrency, queue, name: "waiters" });
    const totals: Audit = { submitted: 0, done: 0, failed: 0, cancelled: 0, lost: 0, recordedTwice: 0, reattempted: 0, inconsistent: [] };
    const add = (a: Audit): void => {
      for (const k of ["submitted", "done", "failed", "cancelled", "lost", "recordedTwice", "reattempted"] as const) totals[k] += a[k];
      totals.inconsistent.push(...a.inconsistent);
    };
    let parkedWaiter503s = 0;
    let worstFirstResultMs = 0;
    let resets = 0;
    const t0 = Date.now();
    for (let round = 0; round < o.rounds; round++) {
      await sleep(500); // every agent is back in a parked long-poll
      // One agent slot runs a slow job; the submitter waits on its result.
      const slow = await submit(api, { fn: SLEEP_FN, inputs: [1_000], queue, ...JOB_OPTIONS });
      const parked = followBatch(api, slow.batchId, o.timeoutMs);
      await sleep(300);
      const reply = await api.call("POST", `/v1/debug/reset/${queue}`);
      if (reply.status !== 202) throw new Error(`reset: ${reply.status} ${JSON.stringify(reply.body)}`);
      resets++;
      parkedWaiter503s += (await parked).unavailable;
      add(await auditBatch(api, slow.batchId, 1, () => 1_000 * 1_000));

      // The next batch must reach agents whose polls were cut off.
      const started = Date.now();
      let firstAt = 0;
      const { batchId } = await submit(api, { fn: SQUARE_FN, inputs: inputs(o.jobsPerRound), queue, ...JOB_OPTIONS });
      await followBatch(api, batchId, o.timeoutMs, (n) => (firstAt ||= n > 0 ? Date.now() : 0));
      worstFirstResultMs = Math.max(worstFirstResultMs, firstAt - started);
      add(await auditBatch(api, batchId, o.jobsPerRound, square));
    }
    const wallMs = Date.now() - t0;
    const row = auditRow(totals, wallMs, {
      "object resets": resets,
      "parked result waiters told 503": parkedWaiter503s,
      "agent log: told unavailable": agents.countLines(/unreachable code=unavailable/),
      "worst submit→first result after reset": formatMs(worstFirstResultMs),
    });
    printTable(`object restarts (waiters lost): ${o.rounds} rounds on ${o.agents} agents`, row);
    if (totals.inconsistent.length) console.log(`inconsistent records:\n  ${totals.inconsistent.join("\n  ")}`);
    return { audit: totals, wallMs, row, resets, parkedWaiter503s, worstFirstResultMs };
  } finally {
    await scope.close();
  }
}
