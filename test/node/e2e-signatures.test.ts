// The agent's envelope checks against a real coordinator, with a tampering
// proxy in between. Each case: the agent refuses, logs why, reports the lease
// as rejected (the coordinator keeps that in the job's history), and the task
// is not run on that attempt. Every case runs on both transports: the
// default POST /v1/agent/exchange (the envelope rides in `envelope`) and
// --no-exchange's POST /v1/agent/poll (the envelope is the answer).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";
import { startProxy, type Proxy, type ProxyHooks } from "../helpers/proxy.js";

const TTL_MS = 1500;
let coord: Coordinator;
let api: ReturnType<typeof submitter>;
const cleanup: Array<() => Promise<void>> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  coord = await startCoordinator({ vars: { ENVELOPE_TTL_MS: String(TTL_MS) } });
  api = submitter(coord.url, coord.submitToken);
});
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await coord?.stop();
});

/** The envelope a 200 answer to a poll or an exchange carries, and that answer with another envelope in its place; null when none. */
function envelopeIn(path: string, status: number, body: string): { envelope: any; with: (envelope: unknown) => string } | null {
  if (status !== 200) return null;
  if (path.startsWith("/v1/agent/poll")) return { envelope: JSON.parse(body), with: (envelope) => JSON.stringify(envelope) };
  if (!path.startsWith("/v1/agent/exchange")) return null;
  const answer = JSON.parse(body);
  return answer.envelope ? { envelope: answer.envelope, with: (envelope) => JSON.stringify({ ...answer, envelope }) } : null;
}

const isTaskRequest = (path: string): boolean => path.startsWith("/v1/agent/poll") || path.startsWith("/v1/agent/exchange");

for (const transport of ["exchange", "poll"] as const) describe(`over ${transport}: an agent refuses, reports and logs`, () => {
const q = (name: string): string => `${name}-${transport}`;

async function agentBehind(queue: string, hooks: ProxyHooks): Promise<{ agent: AgentProc; proxy: Proxy }> {
  const proxy = await startProxy(coord.url, hooks);
  const agent = await startAgent({
    url: proxy.url,
    token: coord.agentToken,
    publicKey: coord.publicKey,
    concurrency: 1,
    name: queue,
    queue,
    args: ["--clock-skew-ms", "0", ...(transport === "poll" ? ["--no-exchange"] : [])],
  });
  // Cleanup runs in reverse: the proxy closes after the agent has stopped (and released what it held).
  cleanup.push(() => proxy.close(), () => agent.stop());
  return { agent, proxy };
}

/** Tampers with the first answer that carries tasks, then lets everything through. */
function onFirstEnvelope(change: (envelope: { payload: string; sig: string; kid: string }) => Promise<unknown> | unknown): ProxyHooks {
  let done = false;
  return {
    response: async (path, status, body) => {
      const found = done ? null : envelopeIn(path, status, body);
      if (!found) return undefined;
      done = true;
      return { status, body: found.with(await change(found.envelope)) };
    },
  };
}

async function runAndCheck(queue: string, agent: AgentProc, code: string, opts: { timeoutMs?: number; graceMs?: number } = {}) {
  const sub = await api.call("POST", "/v1/jobs", { fn: "(x) => x * 2", input: 21, queue, maxAttempts: 3, ...opts });
  expect(sub.status).toBe(201);
  const [result] = await api.collect(sub.body.batchId, 30_000);
  // It ran in the end, once the proxy stopped tampering ...
  expect(result).toMatchObject({ ok: true, value: 42 });
  const job = (await api.call("GET", `/v1/jobs/${sub.body.jobIds[0]}`)).body;
  // ... but not on the tampered attempt, which the agent reported as refused.
  expect(job.history[0]).toMatchObject({ attempt: 1, outcome: "rejected", rejected: code });
  expect(job.history.at(-1)).toMatchObject({ outcome: "ok" });
  await agent.waitForLine(new RegExp(code), 5_000);
  return job;
}

  it("an envelope whose signature was altered", async () => {
    const { agent } = await agentBehind(q("sig-flip"), onFirstEnvelope((e) => {
      const c = e.sig[5] === "A" ? "B" : "A";
      return { ...e, sig: e.sig.slice(0, 5) + c + e.sig.slice(6) };
    }));
    await runAndCheck(q("sig-flip"), agent, "signature_rejected");
  });

  it("an envelope whose payload was altered after signing (the input changed)", async () => {
    const { agent } = await agentBehind(q("payload-edit"), onFirstEnvelope((e) => ({ ...e, payload: e.payload.replace('"input":21', '"input":1000') })));
    await runAndCheck(q("payload-edit"), agent, "signature_rejected");
  });

  it("an envelope signed by a key the agent did not pin", async () => {
    const { generateSigningKey, importSigningKey, signEnvelope } = await import("../../src/protocol/index.js");
    const rogue = await importSigningKey((await generateSigningKey()).pkcs8Base64);
    const { agent } = await agentBehind(q("rogue-key"), onFirstEnvelope(async (e) => signEnvelope(JSON.parse(e.payload), rogue)));
    await runAndCheck(q("rogue-key"), agent, "signature_rejected");
  });

  it("an envelope addressed to another agent", async () => {
    // The proxy makes the agent's first long-poll as another enrolled agent, so the answer is signed for that one.
    const other = await fetch(`${coord.url}/v1/agent/enroll`, {
      method: "POST",
      headers: { authorization: `Bearer ${coord.agentToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "someone-else" }),
    }).then((r) => r.json() as Promise<{ agentId: string; credential: string }>);
    let swapped = false;
    const { agent } = await agentBehind(q("other-agent"), {
      requestHeaders: (path, headers) =>
        isTaskRequest(path) && !swapped ? { ...headers, authorization: `Bearer ${other.credential}`, "x-agent-id": other.agentId } : headers,
      response: (path, status, body) => {
        if (envelopeIn(path, status, body)) swapped = true;
        return undefined;
      },
    });
    const job = await runAndCheck(q("other-agent"), agent, "wrong_agent");
    expect(job.history[0].agentId).toBe(other.agentId);
  });

  it("an envelope past its expiresAt", async () => {
    const { agent } = await agentBehind(q("expired"), onFirstEnvelope(async (e) => {
      await sleep(TTL_MS + 500);
      return e;
    }));
    await runAndCheck(q("expired"), agent, "envelope_expired");
  });

  it("function source whose sha256 differs from the signed fnHash", async () => {
    let done = false;
    const { agent } = await agentBehind(q("fn-swap"), {
      response: (path, status, body) => {
        if (done || status !== 200 || !path.startsWith("/v1/agent/functions/")) return undefined;
        done = true;
        const fn = JSON.parse(body);
        return { status, body: JSON.stringify({ ...fn, source: "() => 'pwned'" }) };
      },
    });
    await runAndCheck(q("fn-swap"), agent, "fn_hash_mismatch");
  });

  it("a lease id it has already seen (a replayed envelope)", async () => {
    let first: unknown;
    let replayed = false;
    const { agent } = await agentBehind(q("replay"), {
      response: (path, status, body) => {
        const found = envelopeIn(path, status, body);
        if (!found) return undefined;
        if (!first) {
          first = found.envelope;
          return undefined;
        }
        if (replayed) return undefined;
        replayed = true;
        return { status, body: found.with(first) }; // the second envelope is swallowed; the first is sent again
      },
    });
    const one = await api.call("POST", "/v1/jobs", { fn: "(x) => x + 1", input: 1, queue: q("replay") });
    const [r1] = await api.collect(one.body.batchId, 10_000);
    expect(r1.value).toBe(2);
    const two = await api.call("POST", "/v1/jobs", { fn: "(x) => x + 1", input: 2, queue: q("replay"), timeoutMs: 500, graceMs: 500 });
    await agent.waitForLine(/lease_replayed/, 5_000);
    // The swallowed task comes back through its lease and runs.
    const [r2] = await api.collect(two.body.batchId, 15_000);
    expect(r2).toMatchObject({ ok: true, value: 3, attempt: 2 });
    // The replayed task was recorded once and not run again.
    const job1 = (await api.call("GET", `/v1/jobs/${one.body.jobIds[0]}`)).body;
    expect(job1).toMatchObject({ state: "done", attempts: 1, value: 2 });
    const page = (await api.call("GET", `/v1/batches/${one.body.batchId}/results`)).body;
    expect(page.results).toHaveLength(1);
    const ranJob1 = agent.lines.filter((l) => l.includes(one.body.jobIds[0]) && /done|finished|ok=/.test(l));
    expect(ranJob1.length).toBeLessThanOrEqual(1);
  });
});
