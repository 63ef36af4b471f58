// Per-agent identity against a real coordinator and real agent processes:
// enrollment with the shared token, the agent's own credential everywhere
// after, the session nonce envelopes echo, revocation, a refused token, and
// polls answered 429 with Retry-After.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";
import { startProxy } from "../helpers/proxy.js";

let coord: Coordinator;
let api: ReturnType<typeof submitter>;
const cleanup: Array<() => Promise<void>> = [];

beforeAll(async () => {
  coord = await startCoordinator();
  api = submitter(coord.url, coord.submitToken);
});
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await coord?.stop();
});

async function agent(c: Coordinator, opts: { name: string; queue: string; url?: string; token?: string; args?: string[]; waitReady?: boolean }): Promise<AgentProc> {
  const a = await startAgent({ url: opts.url ?? c.url, token: opts.token ?? c.agentToken, publicKey: c.publicKey, concurrency: 1, ...opts });
  cleanup.push(() => a.stop());
  return a;
}

describe("identity", () => {
  it("an agent enrolls with the shared token, then sends only its own credential and the id the coordinator assigned", async () => {
    const seen: Array<{ path: string; authorization: string; agentId: string | undefined }> = [];
    const sessions: string[] = [];
    const proxy = await startProxy(coord.url, {
      requestHeaders: (path, headers) => {
        seen.push({ path, authorization: String(headers.authorization), agentId: headers["x-agent-id"] as string | undefined });
        return headers;
      },
      response: (path, status, body) => {
        if (status !== 200) return undefined;
        // A poll answers with the envelope; an exchange carries it in `envelope` (null when no work).
        const envelope = path.startsWith("/v1/agent/poll") ? JSON.parse(body) : path.startsWith("/v1/agent/exchange") ? JSON.parse(body).envelope : null;
        if (envelope) sessions.push(JSON.parse(envelope.payload).session);
        return undefined;
      },
    });
    cleanup.push(() => proxy.close());
    const a = await agent(coord, { name: "enrolled", queue: "identity", url: proxy.url });
    expect(a.agentId).toMatch(/^enrolled-[A-Za-z0-9_-]{6,}$/);

    const sub = await api.call("POST", "/v1/jobs", { fn: "(x) => x + 1", inputs: [1, 2], queue: "identity" });
    const results = await api.collect(sub.body.batchId, 10_000);
    expect(results.map((r) => [r.value, r.agentId]).sort()).toEqual([[2, a.agentId], [3, a.agentId]]);

    expect(seen[0]).toEqual({ path: "/v1/agent/enroll", authorization: `Bearer ${coord.agentToken}`, agentId: undefined });
    const later = seen.slice(1);
    expect(later.length).toBeGreaterThan(2);
    const credential = later[0]!.authorization;
    expect(credential).not.toContain(coord.agentToken);
    for (const request of later) expect(request, request.path).toEqual({ path: request.path, authorization: credential, agentId: a.agentId });
    // The credential and the shared token never reach the log.
    expect(a.lines.join("\n")).not.toContain(credential.replace("Bearer ", ""));
    expect(a.lines.join("\n")).not.toContain(coord.agentToken);
    // Every envelope echoes this run's session nonce.
    expect(sessions.length).toBeGreaterThan(0);
    expect(new Set(sessions).size).toBe(1);
    expect(sessions[0]).toMatch(/^[A-Za-z0-9_-]{16,64}$/);

    const listed = (await api.call("GET", "/v1/agents")).body.agents.find((x: { agentId: string }) => x.agentId === a.agentId);
    expect(listed).toMatchObject({ name: "enrolled", revokedAt: null });
  });

  it("a revoked agent logs it once and exits 2; the task it held goes back to the queue and is done elsewhere", async () => {
    const victim = await agent(coord, { name: "revoked", queue: "revoke", args: ["--heartbeat-ms", "300"] });
    const sub = await api.call("POST", "/v1/jobs", { fn: "async (x, ctx) => { if (ctx.attempt === 1) await new Promise((r) => setTimeout(r, 60000)); return x; }", input: 7, queue: "revoke", timeoutMs: 90_000 });
    const jobId = sub.body.jobIds[0];
    for (let i = 0; i < 100 && (await api.call("GET", `/v1/jobs/${jobId}`)).body.state !== "leased"; i++) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    expect((await api.call("DELETE", `/v1/agents/${victim.agentId}`)).status).toBe(200);
    expect(await victim.exited).toEqual({ code: 2, signal: null });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(victim.count(/was revoked/)).toBe(1);
    expect(victim.lines.find((l) => /was revoked/.test(l))).toMatch(/^dist-agent: this agent was revoked .*\(revoked\)$/);

    const rescuer = await agent(coord, { name: "rescuer", queue: "revoke" });
    const [result] = await api.collect(sub.body.batchId, 10_000);
    expect(result).toMatchObject({ ok: true, value: 7, agentId: rescuer.agentId });
  });

  it("an agent whose shared token is refused at enrollment exits 2 at once", async () => {
    const a = await agent(coord, { name: "wrong", queue: "wrong", token: "not-the-agent-token", waitReady: false });
    expect(await a.exited).toEqual({ code: 2, signal: null });
    expect(a.lines.join("\n")).toMatch(/refused the agent's token/);
    expect(a.lines.join("\n")).not.toContain("not-the-agent-token");
  });
});

describe("rate limit", () => {
  it("a poll answered 429 is retried no sooner than its Retry-After, without calling the coordinator unreachable, and work still gets done", async () => {
    // 0.5 polls per second, a burst of 1: an agent polling with --wait 0 (one empty poll a second) gets every other one refused.
    const limited = await startCoordinator({ vars: { AGENT_POLL_RATE: "0.5" } });
    cleanup.push(() => limited.stop());
    const a = await agent(limited, { name: "limited", queue: "limited", args: ["--wait", "0", "--log-level", "debug"] });
    for (let i = 0; i < 300 && a.count(/ rate limited /) < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const limitedAt = a.lines.map((l, i) => [l, a.times[i]!] as const).filter(([l]) => / rate limited /.test(l));
    expect(limitedAt.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < limitedAt.length; i++) {
      const waited = Number(/retryAfterMs=(\d+)/.exec(limitedAt[i - 1]![0])![1]);
      expect(waited).toBeGreaterThanOrEqual(1_000);
      expect(limitedAt[i]![1] - limitedAt[i - 1]![1]).toBeGreaterThanOrEqual(waited - 50);
    }
    expect(a.count(/unreachable/)).toBe(0);
    const client = submitter(limited.url, limited.submitToken);
    const sub = await client.call("POST", "/v1/jobs", { fn: "(x) => x * 2", input: 21, queue: "limited" });
    const [result] = await client.collect(sub.body.batchId, 20_000);
    expect(result).toMatchObject({ ok: true, value: 42 });
  });
});
