import { describe, expect, it } from "vitest";
import { SELF } from "cloudflare:test";
import { AGENT, call, SUBMIT } from "./helpers.js";

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
];
const agentRoutes: Array<[string, string, unknown?]> = [
  ["POST", "/v1/agent/poll", { slots: 1, wait: 0 }],
  ["GET", `/v1/agent/functions/${"0".repeat(64)}`],
  ["POST", "/v1/agent/heartbeat", { leaseIds: [lease] }],
  ["POST", "/v1/agent/results", { results: [{ leaseId: lease, ok: true, value: 1 }] }],
  ["POST", "/v1/agent/release", { leaseIds: [lease] }],
];

describe("auth", () => {
  it("GET / and GET /v1/keys need no token", async () => {
    expect((await call("GET", "/", { token: null })).status).toBe(200);
    expect((await call("GET", "/v1/keys", { token: null })).status).toBe(200);
  });

  for (const [method, path, body] of [...submitRoutes, ...agentRoutes]) {
    const own = path.startsWith("/v1/agent") ? AGENT : SUBMIT;
    const other = own === AGENT ? SUBMIT : AGENT;
    it(`${method} ${path}: 401 without a token or with a wrong one, 403 with the other role's, not 401/403 with its own`, async () => {
      const none = await call(method, path, { token: null, body });
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe("unauthorized");
      const wrong = await call(method, path, { token: "not-a-token", body });
      expect(wrong.status).toBe(401);
      const malformed = await SELF.fetch(`http://dist.test${path}`, { method, headers: { authorization: `Basic ${own}` } });
      expect(malformed.status).toBe(401);
      const role = await call(method, path, { token: other, body });
      expect(role.status).toBe(403);
      expect(role.body.error.code).toBe("forbidden");
      const ok = await call(method, path, { token: own, body });
      expect([401, 403]).not.toContain(ok.status);
      expect(ok.status).toBeLessThan(500);
    });
  }

  it("accepts every token of a comma-separated (rotated) list", async () => {
    const res = await call("GET", `/v1/jobs/${job}`, { token: "test-submit-token-2" });
    expect(res.status).toBe(404);
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
    const res = await SELF.fetch("http://dist.test/v1/agent/poll", {
      method: "POST",
      headers: { authorization: `Bearer ${AGENT}`, "content-type": "application/json" },
      body: JSON.stringify({ slots: 1, wait: 0 }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe("missing_agent_id");
  });

  it("results for unknown or malformed lease ids are stale, not errors", async () => {
    const res = await call("POST", "/v1/agent/results", {
      body: { results: [{ leaseId: lease, ok: true, value: 1 }, { leaseId: "garbage", ok: true }] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: [], stale: ["garbage", lease] });
  });
});
