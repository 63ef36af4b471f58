// The tampering group's scenarios, beyond altering one envelope in flight:
// a function source swapped, an envelope replayed within a session, handed
// to another agent, replayed to a restarted agent (and re-addressed to it
// under the real key with the old session), and a compromised coordinator
// forging tasks for an agent that trusts one submitter key.

import { isDeepStrictEqual } from "node:util";
import { randomId, sha256Hex, signEnvelope, signJob, toBase64Url, type Envelope, type TaskPayload } from "../../src/protocol/client.js";
import type { AgentProc } from "../helpers/agent.js";
import { startTamperProxy } from "../helpers/tamper.js";
import { eventually, sleep, type Scope } from "./scope.js";
import {
  agentBehind,
  attemptText,
  EVIL_FN,
  expected,
  FN,
  judge,
  opened,
  reportFor,
  serveNext,
  swallow,
  type CaseRun,
  type Env,
  type TamperVerdict,
} from "./tampering-kit.js";

export type Scenario = "replay within a session" | "another agent's envelope" | "replay after restart" | "function source swapped";
export const SCENARIOS: Scenario[] = ["function source swapped", "replay within a session", "another agent's envelope", "replay after restart"];

export async function scenarios(scope: Scope, env: Env, run: CaseRun, which: Scenario[], queue: string, timeoutMs: number): Promise<TamperVerdict[]> {
  const { proxy } = run;
  let agent = run.agent;
  const out: TamperVerdict[] = [];
  /**
   * The envelope under which job `index` of the case batch ran to `ok`: the one carrying the lease
   * the agent reported ok for, wherever the job sits in it (how many tasks share an envelope depends
   * on timing; the last envelope with the job first could be a tampered copy the agent refused).
   */
  const ranEnvelope = (index: number) => {
    const jobId = run.jobIds[index]!;
    const okLeases = new Set(proxy.reported.filter((r) => r.ok).map((r) => r.leaseId));
    for (let i = proxy.captured.length - 1; i >= 0; i--) {
      const c = proxy.captured[i]!;
      const task = c.payload.tasks.find((t) => t.jobId === jobId && okLeases.has(t.leaseId));
      if (task) return { ...c, leaseId: task.leaseId, attempt: task.attempt, jobId };
    }
    throw new Error(`no envelope captured under which ${jobId} ran to ok`);
  };
  const submitMarked = async (marker: string) => {
    const sub = await env.api.call("POST", "/v1/jobs", { fn: FN, input: { scenario: marker }, queue, maxAttempts: 3 });
    if (sub.status !== 201) throw new Error(`submit ${marker}: ${sub.status}`);
    return { batchId: sub.body.batchId as string, jobId: sub.body.jobIds[0] as string };
  };

  if (which.includes("function source swapped")) {
    // Not the envelope but the source it names: same behaviour as FN, another hash, swapped on its first fetch.
    const fn = `${FN} /* fetched through a tampering proxy */`;
    const fnHash = await sha256Hex(fn);
    let swapped = false;
    const previous = proxy.onResponse;
    proxy.onResponse = (ex) => {
      if (swapped || ex.status !== 200 || !ex.path.startsWith(`/v1/agent/functions/${fnHash}`)) return previous?.(ex);
      swapped = true;
      return { status: 200, body: JSON.stringify({ fnHash, source: EVIL_FN }) };
    };
    const sub = await env.api.call("POST", "/v1/jobs", { fn, input: { scenario: "fn-swap" }, queue, maxAttempts: 3 });
    await env.api.collect(sub.body.batchId, timeoutMs);
    proxy.onResponse = previous;
    const first = proxy.captured.find((c) => c.payload.tasks[0]?.jobId === sub.body.jobIds[0])!.payload.tasks[0]!;
    await sleep(300);
    out.push(await judge(env, proxy, { name: "function source swapped in flight", part: "source", expect: ["fn_hash_mismatch"] }, first.jobId, first.attempt, [first.leaseId], { scenario: "fn-swap" }));
  }

  if (which.includes("replay within a session")) {
    const ran = ranEnvelope(0);
    serveNext(proxy, () => agent.agentId, ran.envelope);
    await eventually("the replayed lease's report", reportFor(proxy, ran.leaseId), 15_000);
    await sleep(300);
    const v = await judge(env, proxy, { name: "replay within a session", part: "replay", expect: ["lease_replayed"] }, ran.jobId, ran.attempt, [ran.leaseId], 0, { ranBefore: 1 });
    const page = (await env.api.call("GET", `/v1/batches/${run.batchId}/results?limit=1000`)).body;
    if (page.results.filter((r: any) => r.jobId === ran.jobId).length !== 1) v.after = false;
    out.push(v);
  }

  if (which.includes("another agent's envelope")) {
    const bystander = await agentBehind(scope, env, proxy, "bystander", `${queue}-b`);
    const swallowed = swallow(proxy, "other-agent", () => agent);
    const job = await submitMarked("other-agent");
    const taken = await swallowed;
    const lease = taken.payload.tasks[0]!;
    serveNext(proxy, () => bystander.agentId, taken.envelope);
    await eventually("the bystander's report", reportFor(proxy, lease.leaseId, bystander.agentId), 15_000);
    await env.api.collect(job.batchId, timeoutMs);
    out.push(await judge(env, proxy, { name: "another agent's envelope (live lease)", part: "identity", expect: ["wrong_agent"] }, job.jobId, lease.attempt, [lease.leaseId], { scenario: "other-agent" }));
  }

  if (which.includes("replay after restart")) {
    const ran = ranEnvelope(1);
    const swallowed = swallow(proxy, "restart-live", () => agent);
    const job = await submitMarked("restart-live");
    const taken = await swallowed;
    const live = taken.payload.tasks[0]!;
    await agent.stop();
    let restarted: AgentProc | undefined;
    const newId = (): string => restarted?.agentId ?? "";
    // The new process's polls get old envelopes: one it ran before the restart, one it never saw, and the
    // first re-addressed to its new agent id and re-signed with the coordinator's real key, so only the
    // session (the old run's) is wrong: what a coordinator that kept agent ids across restarts would rely on.
    let readdressed: { leaseId: string } | undefined;
    serveNext(proxy, newId, ran.envelope, () =>
      serveNext(proxy, newId, taken.envelope, () => {
        const payload = { ...ran.payload, agentId: newId(), tasks: ran.payload.tasks.map((t) => ({ ...t, leaseId: `${t.queue}.${randomId(16)}` })) };
        readdressed = { leaseId: payload.tasks[0]!.leaseId };
        void signEnvelope(payload, env.ctx.real).then((e) => serveNext(proxy, newId, e));
      }),
    );
    restarted = await agentBehind(scope, env, proxy, queue, queue);
    agent = restarted;
    await eventually(
      "the restarted agent's three reports",
      () => (reportFor(proxy, ran.leaseId, newId())() && reportFor(proxy, live.leaseId, newId())() && readdressed && reportFor(proxy, readdressed.leaseId, newId())()) || undefined,
      20_000,
    );
    await env.api.collect(job.batchId, timeoutMs);
    const expect = ["session_mismatch", "wrong_agent"];
    out.push(await judge(env, proxy, { name: "replay after restart (ran before)", part: "replay", expect }, ran.jobId, ran.attempt, [ran.leaseId], 1, { ranBefore: 1, by: newId() }));
    out.push(await judge(env, proxy, { name: "replay after restart (never seen)", part: "replay", expect }, job.jobId, live.attempt, [live.leaseId], { scenario: "restart-live" }, { by: newId() }));
    out.push(await judge(env, proxy, { name: "after restart: own id, old session (genuine key)", part: "replay", expect: ["session_mismatch"] }, ran.jobId, ran.attempt, [readdressed!.leaseId], 1, { leaseUnknown: true }));
  }

  // Whatever it refused, the (last) agent still does honest work.
  const honest = await submitMarked("honest");
  const [result] = await env.api.collect(honest.batchId, timeoutMs);
  out.push({
    name: "an honest job afterwards",
    part: "control",
    expect: ["—"],
    seen: "—",
    refused: true,
    reported: true,
    readable: true,
    executed: 0,
    history: result?.ok ? "ok" : "not ok",
    after: isDeepStrictEqual(result?.value, expected({ scenario: "honest" })),
    survived: agent.proc.exitCode === null && agent.proc.signalCode === null,
  });
  return out;
}


/** An Ed25519 key pair for a submitter: the private key signs jobs, `x` is what agents trust. */
async function submitterKey(): Promise<{ privateKey: CryptoKey; x: string }> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, x: toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey))) };
}

/**
 * A compromised coordinator: it holds the real signing key, so every envelope
 * below verifies. An agent that trusts one submitter key (--trust-submitter)
 * must still refuse what that submitter did not sign: a function swapped, an
 * input changed, the signature stripped, an unsigned job, another signer's job.
 */
export async function compromisedCoordinator(scope: Scope, env: Env, timeoutMs: number): Promise<TamperVerdict[]> {
  const trusted = await submitterKey();
  const stranger = await submitterKey();
  const queue = "trusted";
  const fnHash = await sha256Hex(FN);
  const forgeries: Array<{ name: string; edit: (t: Record<string, any>) => void }> = [
    { name: "swaps the function for a known evil one", edit: (t) => (t.fnHash = env.ctx.evilFnHash) },
    { name: "changes the input", edit: (t) => (t.input = { evil: true }) },
    { name: "strips the submitter's signature", edit: (t) => { delete t.signer; delete t.sig; } },
    { name: "moves the signature to another input", edit: (t) => (t.input = (t.input as number) + 1) },
  ];
  const proxy = scope.add(await startTamperProxy(env.coord.url), (p) => p.close());
  const forged = new Map<string, { attempt: number; leaseId: string }>();
  // An envelope may carry several of the signed jobs (the agent prefetches): each is forged its own way, re-signed with the real key.
  proxy.onEnvelope = async (_ex, sent) => {
    const got = opened(sent);
    if (!got) return undefined;
    const payload = JSON.parse(got.envelope.payload) as TaskPayload;
    let changed = false;
    for (const task of payload.tasks as Array<Record<string, any>>) {
      if (typeof task.input !== "number" || task.input >= forgeries.length || forged.has(task.jobId)) continue;
      forged.set(task.jobId, { attempt: task.attempt, leaseId: task.leaseId });
      forgeries[task.input]!.edit(task);
      changed = true;
    }
    return changed ? { envelope: await signEnvelope(payload, env.ctx.real) } : undefined;
  };
  await agentBehind(scope, env, proxy, queue, queue, ["--trust-submitter", trusted.x]);
  const submit = async (inputs: number[], key?: { privateKey: CryptoKey; x: string }) => {
    const signed = key ? { signer: key.x, signatures: await Promise.all(inputs.map((i) => signJob(key.privateKey, fnHash, i))) } : {};
    const sub = await env.api.call("POST", "/v1/jobs", { fn: FN, inputs, queue, maxAttempts: 3, ...signed });
    if (sub.status !== 201) throw new Error(`submit to ${queue}: ${sub.status} ${JSON.stringify(sub.body)}`);
    return sub.body as { batchId: string; jobIds: string[] };
  };
  const signedBatch = await submit(forgeries.map((_, i) => i), trusted);
  const unsigned = await submit([100]);
  const strangers = await submit([200], stranger);
  for (const b of [signedBatch, unsigned, strangers]) await env.api.collect(b.batchId, timeoutMs);
  await sleep(300);
  const out: TamperVerdict[] = [];
  for (const [i, f] of forgeries.entries()) {
    const jobId = signedBatch.jobIds[i]!;
    const entry = forged.get(jobId);
    if (!entry) throw new Error(`forgery ${f.name}: no envelope passed the proxy`);
    out.push(await judge(env, proxy, { name: `genuine key, ${f.name}`, part: "coordinator", expect: ["submitter_untrusted"] }, jobId, entry.attempt, [entry.leaseId], i));
  }
  for (const [name, batch, input] of [["genuine key, a job no one signed", unsigned, 100], ["genuine key, a job an untrusted key signed", strangers, 200]] as const) {
    const job = (await env.api.call("GET", `/v1/jobs/${batch.jobIds[0]}`)).body;
    const leases = proxy.captured.filter((c) => c.payload.tasks[0]?.jobId === batch.jobIds[0]).map((c) => c.payload.tasks[0]!.leaseId);
    const v = await judge(env, proxy, { name, part: "coordinator", expect: ["submitter_untrusted"] }, batch.jobIds[0]!, 1, leases, input, { endsFailed: true });
    out.push({ ...v, history: `${job?.attempts} attempts, all ${[...new Set(job?.history?.map((h: any) => attemptText(h)))].join("/")}` });
  }
  return out;
}

