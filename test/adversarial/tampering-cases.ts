// The tampering group: a proxy between real agents and a real coordinator
// alters envelopes in flight (each payload field, the signature, the key id,
// a rogue key, the shape) and holds one past its expiry; then the scenarios
// of tampering-scenarios.ts. Verdicts are defined in tampering-kit.ts; this
// file runs the envelope cases, the whole group, and prints its table.

import { heldPastExpiry, leaseIdsIn, startTamperProxy, type EnvelopeTamper } from "../helpers/tamper.js";
import { mark, pct, printGroup, type Row } from "./report.js";
import { Scope, sleep } from "./scope.js";
import { agentBehind, agentSupports, coordinatorEnv, explain, FN, judge, opened, type CaseRun, type Env, type TamperVerdict } from "./tampering-kit.js";
import { compromisedCoordinator, scenarios, type Scenario } from "./tampering-scenarios.js";

export { SCENARIOS, type Scenario } from "./tampering-scenarios.js";
export type { TamperVerdict } from "./tampering-kit.js";

/**
 * One job per case on its own queue; the first envelope carrying each job is
 * altered by its case, later attempts pass untouched. Returns the verdicts and
 * what is still running (for the scenarios).
 */
async function envelopeCases(scope: Scope, env: Env, cases: EnvelopeTamper[], queue: string, agentArgs: string[], timeoutMs: number, label = ""): Promise<CaseRun> {
  const proxy = scope.add(await startTamperProxy(env.coord.url), (p) => p.close());
  const tampered = new Map<number, { attempt: number; leases: string[] }>();
  let lastDelivered: number | undefined;
  proxy.onEnvelope = async (_ex, sent) => {
    const got = opened(sent);
    const task = got?.payload.tasks[0];
    if (!got || !task || task.queue !== queue || typeof task.input !== "number" || tampered.has(task.input)) return undefined;
    const entry = { attempt: task.attempt, leases: [task.leaseId] };
    tampered.set(task.input, entry);
    const out = await cases[task.input]!.apply(got.envelope, env.ctx);
    entry.leases = [...new Set([task.leaseId, ...leaseIdsIn(out)])];
    lastDelivered = task.input;
    return { envelope: out };
  };
  let agent = await agentBehind(scope, env, proxy, queue, queue, agentArgs);
  const sub = await env.api.call("POST", "/v1/jobs", { fn: FN, inputs: cases.map((_, i) => i), queue, maxAttempts: 3 });
  if (sub.status !== 201) throw new Error(`submit: ${sub.status} ${JSON.stringify(sub.body)}`);
  // An envelope that kills the agent is charged to the case whose envelope it was (one task per envelope, one slot),
  // and a fresh agent takes over, so one crash does not hide the verdicts on the rest.
  const crashed = new Map<number, string>();
  const deadline = Date.now() + timeoutMs;
  for (let restarts = 0; ; ) {
    const batch = (await env.api.call("GET", `/v1/batches/${sub.body.batchId}`)).body;
    if (batch?.done) break;
    if (agent.proc.exitCode !== null || agent.proc.signalCode !== null) {
      const how = `agent exited (code=${agent.proc.exitCode}): ${agent.lines.find((l) => /unexpected error/.test(l))?.slice(0, 80) ?? agent.lines.at(-1)?.slice(0, 80)}`;
      if (lastDelivered !== undefined) crashed.set(lastDelivered, how);
      if (++restarts > 5) throw new Error(`the agent crashed ${restarts} times; last: ${how}`);
      agent = await agentBehind(scope, env, proxy, queue, queue, agentArgs);
    }
    if (Date.now() > deadline) await explain(`batch ${sub.body.batchId} not done after ${timeoutMs} ms`, agent);
    await sleep(200);
  }
  await sleep(300); // reports for tampered lease ids are answered stale and need not precede the job's end
  const verdicts: TamperVerdict[] = [];
  for (const [i, c] of cases.entries()) {
    const entry = tampered.get(i);
    if (!entry) throw new Error(`case ${c.name}: no envelope for job ${i} passed the proxy`);
    const v = await judge(env, proxy, { ...c, name: c.name + label }, sub.body.jobIds[i], entry.attempt, entry.leases, i);
    if (crashed.has(i)) Object.assign(v, { survived: false, history: `${v.history}; ${crashed.get(i)}` });
    verdicts.push(v);
  }
  return { verdicts, proxy, agent, batchId: sub.body.batchId as string, jobIds: sub.body.jobIds as string[] };
}


export interface TamperingOptions {
  cases: EnvelopeTamper[];
  /** Also hold one envelope past its expiry (on a coordinator with a short envelope TTL). */
  expired: boolean;
  scenarios: Scenario[];
  /** Also play a compromised coordinator against an agent that trusts one submitter key. */
  compromised?: boolean;
  /** Cases (by name prefix) to run again through POST /v1/agent/poll (--no-exchange); the rest go by exchange, the default. */
  viaPoll?: string[];
  timeoutMs: number;
}

export function tamperingRows(verdicts: TamperVerdict[]): Row[] {
  const rows: Row[] = verdicts.map((v) => ({
    case: v.name,
    part: v.part,
    expected: v.expect.join("|"),
    seen: v.seen,
    refused: mark(v.refused),
    reported: v.readable ? mark(v.reported) : "n/a (unreadable)",
    "tampered attempt": v.history,
    executed: v.executed,
    "agent survived": mark(v.survived),
    "job after": mark(v.after),
  }));
  const cases = verdicts.filter((v) => v.part !== "control");
  const readable = cases.filter((v) => v.readable);
  rows.push({
    case: `all ${cases.length} cases`,
    part: "",
    expected: "",
    seen: `${cases.filter((v) => v.expect.includes(v.seen) || (!v.readable && v.seen === "—")).length}/${cases.length} as expected`,
    refused: pct(cases.filter((v) => v.refused).length, cases.length),
    reported: pct(readable.filter((v) => v.reported).length, readable.length),
    "tampered attempt": "",
    executed: cases.reduce((n, v) => n + v.executed, 0),
    "agent survived": pct(verdicts.filter((v) => v.survived).length, verdicts.length),
    "job after": pct(verdicts.filter((v) => v.after).length, verdicts.length),
  });
  return rows;
}

/** Runs the group, prints its table and returns the verdicts for the caller's assertions. */
export async function tampering(o: TamperingOptions): Promise<TamperVerdict[]> {
  const scope = new Scope();
  try {
    const main = await coordinatorEnv(scope, { DELIVERY_LEASE_MS: "4000" });
    const run = await envelopeCases(scope, main, o.cases, "tamper", [], o.timeoutMs);
    const verdicts = [...run.verdicts];
    if (o.expired) {
      // Its own coordinator: a 1.5 s envelope TTL would expire the replays above before their lease check.
      const short = await coordinatorEnv(scope, { ENVELOPE_TTL_MS: "1500", DELIVERY_LEASE_MS: "6000" });
      verdicts.push(...(await envelopeCases(scope, short, [heldPastExpiry(2_000)], "expiry", ["--clock-skew-ms", "0"], o.timeoutMs)).verdicts);
    }
    if (o.viaPoll?.length && agentSupports("--no-exchange")) {
      const again = o.cases.filter((c) => o.viaPoll!.some((n) => c.name.startsWith(n)));
      verdicts.push(...(await envelopeCases(scope, main, again, "tamper-p", ["--no-exchange"], o.timeoutMs, " [poll]")).verdicts);
    }
    verdicts.push(...(await scenarios(scope, main, run, o.scenarios, "tamper", o.timeoutMs)));
    if (o.compromised) verdicts.splice(verdicts.length - 1, 0, ...(await compromisedCoordinator(scope, main, o.timeoutMs)));
    printGroup(`adversarial: tampering (${verdicts.length - 1} cases through a proxy; verdicts from the proxy and the coordinator's job histories)`, tamperingRows(verdicts));
    return verdicts;
  } finally {
    await scope.close();
  }
}

