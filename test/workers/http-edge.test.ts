import { describe, expect, it } from "vitest";
import { SELF } from "cloudflare:test";
import { AGENT, call, identity, poll, submit, SUBMIT } from "./helpers.js";

const job = "default.AAAAAAAAAAAAAAAA.0";
const batch = "default.AAAAAAAAAAAAAAAA";
const lease = "default.AAAAAAAAAAAAAAAAAAAAAA";

const submitRoutes: Array<[string, string, unknown?]> = [
  ["POST", "/v1/jobs", { fn: "(x) => x", input: 1 }],
  ["POST", "/v1/functions", { source: "(x) => x" }],
  ["GET", `/v1/jobs/${job}`],
  ["DELETE", `/v1/jobs/${job}`],
  ["GET", `/v1/batches/${batch}`],
  ["GET", `/v1/batches/${batch}/results`],
  ["DELETE", `/v1/batches/${batch}`],
  ["GET", `/v1/batches/${batch}/jobs`],
  ["POST", `/v1/batches/${batch}/retry`],
  ["POST", `/v1/jobs/${job}/retry`],
  ["GET", "/v1/agents"],
  ["DELETE", "/v1/agents/nobody-000000"],
];
const agentRoutes: Array<[string, string, unknown?]> = [
  ["POST", "/v1/agent/enroll", { name: "matrix" }],
  ["POST", "/v1/agent/poll", { slots: 1, wait: 0 }],
  ["GET", `/v1/agent/functions/${"0".repeat(64)}`],
  ["POST", "/v1/agent/heartbeat", { leaseIds: [lease] }],
  ["POST", "/v1/agent/results", { results: [{ leaseId: lease, ok: true, value: 1 }] }],
  ["POST", "/v1/agent/release", { leaseIds: [lease] }],
  ["POST", "/v1/agent/exchange", { slots: 0, results: [{ leaseId: lease, ok: true, value: 1 }] }],
];

type TokenKind = "none" | "malformed" | "wrong" | "submit" | "shared agent" | "agent credential" | "revoked agent";
const KINDS: TokenKind[] = ["none", "malformed", "wrong", "submit", "shared agent", "agent credential", "revoked agent"];

let revoked: { agentId: string; credential: string } | undefined;
async function revokedIdentity() {
  if (!revoked) {
    revoked = await identity("to-revoke");
    const res = await call("DELETE", `/v1/agents/${revoked.agentId}`);
    expect(res.status).toBe(200);
  }
  return revoked;
}

async function headersFor(kind: TokenKind): Promise<Record<string, string>> {
  const me = await identity("agent-a");
  switch (kind) {
    case "none": return {};
    case "malformed": return { authorization: `Basic ${SUBMIT}` };
    case "wrong": return { authorization: "Bearer not-a-token" };
    case "submit": return { authorization: `Bearer ${SUBMIT}` };
    case "shared agent": return { authorization: `Bearer ${AGENT}`, "x-agent-id": me.agentId };
    case "agent credential": return { authorization: `Bearer ${me.credential}`, "x-agent-id": me.agentId };
    case "revoked agent": {
      const r = await revokedIdentity();
      return { authorization: `Bearer ${r.credential}`, "x-agent-id": r.agentId };
    }
  }
}

/** What each kind of caller gets: a status, or "ok" for anything that is not 401/403/5xx. */
function expected(path: string, kind: TokenKind): number | "ok" {
  const enroll = path === "/v1/agent/enroll";
  const agentRoute = path.startsWith("/v1/agent/") && !enroll;
  if (kind === "none" || kind === "malformed" || kind === "wrong") return 401;
  if (enroll) return kind === "shared agent" ? "ok" : kind === "submit" || kind === "agent credential" ? 403 : 401;
  if (agentRoute) {
    if (kind === "agent credential") return "ok";
    return kind === "submit" ? 403 : 401; // shared token: enroll_required; revoked: revoked
  }
  if (kind === "submit") return "ok";
  return kind === "shared agent" || kind === "agent credential" ? 403 : 401; // a revoked credential is no token at all here
}

describe("auth", () => {
  it("GET / and GET /v1/keys need no token", async () => {
    expect((await call("GET", "/", { token: null })).status).toBe(200);
    expect((await call("GET", "/v1/keys", { token: null })).status).toBe(200);
  });

  for (const [method, path, body] of [...submitRoutes, ...agentRoutes]) {
    it(`${method} ${path}: every kind of caller gets the expected status`, async () => {
      for (const kind of KINDS) {
        const headers = await headersFor(kind);
        const res = await call(method, path, { token: null, body, headers });
        const want = expected(path, kind);
        if (want === "ok") {
          expect([401, 403], `${kind}`).not.toContain(res.status);
          expect(res.status, `${kind}`).toBeLessThan(500);
        } else {
          expect(res.status, `${kind}`).toBe(want);
          expect(res.body.error.code, `${kind}`).toBeTypeOf("string");
        }
        if (kind === "shared agent" && want === 401) expect(res.body.error.code).toBe("enroll_required");
        if (kind === "revoked agent" && path.startsWith("/v1/agent/") && path !== "/v1/agent/enroll") expect(res.body.error.code).toBe("revoked");
      }
    });
  }

  it("accepts every token of a comma-separated (rotated) list", async () => {
    const res = await call("GET", `/v1/jobs/${job}`, { token: "test-submit-token-2" });
    expect(res.status).toBe(404);
  });

  it("an agent credential with another agent's X-Agent-Id is refused", async () => {
    const me = await identity("agent-a");
    const other = await identity("agent-b");
    const res = await call("POST", "/v1/agent/poll", { token: null, body: { slots: 1, wait: 0 }, headers: { authorization: `Bearer ${me.credential}`, "x-agent-id": other.agentId } });
    expect(res.status).toBe(401);
  });
});

describe("agent identity", () => {
  it("enrolling gives each agent its own id and credential; admins list and revoke them", async () => {
    const a = await call("POST", "/v1/agent/enroll", { body: { name: "vol", labels: ["gpu"] } });
    expect(a.status).toBe(201);
    expect(a.body.agentId).toMatch(/^vol-/);
    expect(a.body.credential).toMatch(/^agc_/);
    const list = await call("GET", "/v1/agents");
    expect(list.body.agents.find((x: any) => x.agentId === a.body.agentId)).toMatchObject({ name: "vol", labels: ["gpu"], revokedAt: null });
    expect(JSON.stringify(list.body)).not.toContain(a.body.credential);
    expect((await call("DELETE", "/v1/agents/nobody-000000")).status).toBe(404);
  });

  it("a revoked agent's calls get 401 and its leases go back to the queue at once", async () => {
    const sub = await submit({ fn: "(x) => x", inputs: [1, 2], queue: "revoke" });
    const got = await poll({ slots: 2, wait: 0, queue: "revoke" }, "bad-actor");
    expect(got.status).toBe(200);
    const who = await identity("bad-actor");
    const res = await call("DELETE", `/v1/agents/${who.agentId}`);
    expect(res.body).toEqual({ revoked: who.agentId, released: 2 });
    expect((await poll({ slots: 1, wait: 0, queue: "revoke" }, "bad-actor")).body.error.code).toBe("revoked");
    const batch = await call("GET", `/v1/batches/${sub.body.batchId}`);
    expect(batch.body.counts).toMatchObject({ queued: 2, leased: 0 });
    const again = await poll({ slots: 2, wait: 0, queue: "revoke" }, "good-actor");
    expect(JSON.parse(again.body.payload).tasks).toHaveLength(2);
    const list = await call("GET", "/v1/agents");
    expect(list.body.agents.find((x: any) => x.agentId === who.agentId).revokedAt).toBeTypeOf("number");
  });
});

describe("bad input gets a 4xx JSON error with a stable code", () => {
  const cases: Array<[string, string, { raw?: string; body?: unknown; headers?: Record<string, string> }, number, string]> = [
    ["POST", "/v1/jobs", { raw: "{not json" }, 400, "invalid_json"],
    ["POST", "/v1/jobs", { raw: "" }, 400, "invalid_json"],
    ["POST", "/v1/jobs", { body: [] }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { inputs: [1] } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: 42 } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", inputs: "nope" } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", inputs: [] } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", input: 1, inputs: [1] } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", fnHash: "a".repeat(64) } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", queue: "Bad Queue!" } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", timeoutMs: -1 } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", priority: "high" } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", surprise: true } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", inputs: Array(10_001).fill(0) } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", input: "x".repeat(1_100_000) } }, 413, "input_too_large"],
    ["POST", "/v1/jobs", { raw: JSON.stringify({ fn: "(x)=>x", inputs: Array(20).fill("y".repeat(1_000_000)) }) }, 413, "payload_too_large"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x" }, headers: { "idempotency-key": "bad key with spaces" } }, 400, "invalid_request"],
    ["POST", "/v1/functions", { body: {} }, 400, "invalid_request"],
    ["POST", "/v1/functions", { body: { source: "" } }, 400, "invalid_request"],
    ["GET", "/v1/jobs/nope", {}, 404, "not_found"],
    ["GET", `/v1/jobs/${job}`, {}, 404, "not_found"],
    ["DELETE", `/v1/jobs/${job}`, {}, 404, "not_found"],
    ["GET", `/v1/batches/${batch}`, {}, 404, "not_found"],
    ["GET", `/v1/batches/${batch}/results`, {}, 404, "not_found"],
    ["GET", `/v1/batches/x/results?wait=abc`, {}, 404, "not_found"],
    ["GET", `/v1/batches/${batch}/results?wait=abc`, {}, 400, "invalid_request"],
    ["GET", `/v1/batches/${batch}/results?wait=99`, {}, 400, "invalid_request"],
    ["GET", "/v1/nowhere", {}, 404, "not_found"],
    ["POST", "/v1/agent/poll", { body: { slots: 0 } }, 400, "invalid_request"],
    ["POST", "/v1/agent/poll", { body: { slots: 1, wait: 60 } }, 400, "invalid_request"],
    ["POST", "/v1/agent/poll", { raw: "[" }, 400, "invalid_json"],
    ["POST", "/v1/agent/results", { body: { results: [{ leaseId: lease }] } }, 400, "invalid_request"],
    ["POST", "/v1/agent/results", { body: { results: [] } }, 400, "invalid_request"],
    ["POST", "/v1/agent/results", { body: { results: [{ leaseId: lease, ok: false, rejected: "because" }] } }, 400, "invalid_request"],
    ["POST", "/v1/agent/enroll", { body: { name: "has spaces" } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { raw: `{"fn":"(x)=>x","input":${"[".repeat(10_000)}${"]".repeat(10_000)}}` }, 400, "too_deep"],
    ["POST", "/v1/agent/results", { raw: `{"results":[{"leaseId":"${lease}","ok":true,"value":${"[".repeat(100_000)}${"]".repeat(100_000)}}]}` }, 400, "too_deep"],
    ["POST", "/v1/agent/poll", { body: { slots: 1, session: "short" } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", input: 1, signer: "A".repeat(43) } }, 400, "invalid_request"],
    ["POST", "/v1/jobs", { body: { fn: "(x)=>x", inputs: [1, 2], signer: "A".repeat(43), signatures: ["A".repeat(86)] } }, 400, "invalid_request"],
    ["POST", "/v1/agent/heartbeat", { body: { leaseIds: "x" } }, 400, "invalid_request"],
    ["GET", "/v1/agent/functions/zzz", {}, 404, "not_found"],
    ["GET", `/v1/batches/${batch}/jobs?state=weird`, {}, 400, "invalid_request"],
    ["GET", `/v1/batches/${batch}/jobs`, {}, 404, "not_found"],
    ["POST", `/v1/jobs/${job}/retry`, {}, 404, "not_found"],
    ["POST", "/v1/agent/release", { body: { leaseIds: "all" } }, 400, "invalid_request"],
    ["POST", "/v1/debug/reset/default", {}, 404, "not_found"],
  ];
  for (const [method, path, opts, status, code] of cases) {
    it(`${method} ${path} ${(opts.raw ?? JSON.stringify(opts.body) ?? "").slice(0, 60)} → ${status} ${code}`, async () => {
      const res = await call(method, path, opts);
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(res.body.error.code).toBe(code);
      expect(typeof res.body.error.message).toBe("string");
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
    });
  }

  it("an agent request without X-Agent-Id is refused", async () => {
    const me = await identity("agent-a");
    const res = await SELF.fetch("http://dist.test/v1/agent/poll", {
      method: "POST",
      headers: { authorization: `Bearer ${me.credential}`, "content-type": "application/json" },
      body: JSON.stringify({ slots: 1, wait: 0 }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe("unauthorized");
  });

  it("an agent that polls too often is told to wait with 429 and Retry-After", async () => {
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await poll({ slots: 1, wait: 0, queue: "rate" }, "hammer");
      if (res.status === 429) limited = res;
    }
    expect(limited?.body.error.code).toBe("rate_limited");
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("results for unknown or malformed lease ids are stale, not errors", async () => {
    const res = await call("POST", "/v1/agent/results", {
      body: { results: [{ leaseId: lease, ok: true, value: 1 }, { leaseId: "garbage", ok: true }] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: [], stale: ["garbage", lease] });
  });
});
