// The authorization group: every route × every kind of credential against a
// real coordinator over HTTP, each cell compared with the status (and for the
// refusals, the error code) it must get; then what a matrix cannot show —
// one agent acting on another's lease, a revoked agent's leases going back,
// the poll rate limit.

import { randomBytes } from "node:crypto";
import { startCoordinator } from "../helpers/coordinator.js";
import { crossAgentChecks, type CheckRow } from "./authz-cross.js";
import { asSubmitter, enroll, jsonOf, rawClient, type Enrolled, type RawClient, type RawReply } from "./http.js";
import { mark, pct, printGroup, type Row } from "./report.js";
import { Scope } from "./scope.js";

type RouteClass = "public" | "submit" | "enroll" | "agent";

export interface RouteSpec {
  method: string;
  path: string;
  cls: RouteClass;
  body?: unknown;
}

const JOB = "default.AAAAAAAAAAAAAAAA.0";
const BATCH = "default.AAAAAAAAAAAAAAAA";
const LEASE = "default.AAAAAAAAAAAAAAAAAAAAAA";

export const ROUTES: RouteSpec[] = [
  { method: "GET", path: "/", cls: "public" },
  { method: "GET", path: "/dashboard.js", cls: "public" },
  { method: "GET", path: "/v1/keys", cls: "public" },
  { method: "GET", path: "/v1/openapi.json", cls: "public" },
  { method: "POST", path: "/v1/jobs", cls: "submit", body: { fn: "(x) => x", input: 1, queue: "authz-matrix" } },
  { method: "POST", path: "/v1/functions", cls: "submit", body: { source: "(x) => x" } },
  { method: "GET", path: `/v1/jobs/${JOB}`, cls: "submit" },
  { method: "DELETE", path: `/v1/jobs/${JOB}`, cls: "submit" },
  { method: "POST", path: `/v1/jobs/${JOB}/retry`, cls: "submit" },
  { method: "GET", path: `/v1/batches/${BATCH}`, cls: "submit" },
  { method: "GET", path: `/v1/batches/${BATCH}/results`, cls: "submit" },
  { method: "GET", path: `/v1/batches/${BATCH}/events`, cls: "submit" },
  { method: "GET", path: `/v1/batches/${BATCH}/jobs`, cls: "submit" },
  { method: "POST", path: `/v1/batches/${BATCH}/retry`, cls: "submit" },
  { method: "DELETE", path: `/v1/batches/${BATCH}`, cls: "submit" },
  { method: "GET", path: "/v1/queues/authz-matrix/overview", cls: "submit" },
  { method: "GET", path: "/v1/agents", cls: "submit" },
  { method: "DELETE", path: "/v1/agents/nobody-AAAAAA", cls: "submit" },
  { method: "GET", path: "/v1/metrics", cls: "submit" },
  { method: "POST", path: "/v1/agent/enroll", cls: "enroll", body: { name: "matrix" } },
  { method: "POST", path: "/v1/agent/poll", cls: "agent", body: { slots: 1, wait: 0, queue: "authz-matrix" } },
  { method: "POST", path: "/v1/agent/exchange", cls: "agent", body: { slots: 0, wait: 0, queue: "authz-matrix", leaseIds: [LEASE] } },
  { method: "GET", path: `/v1/agent/functions/${"0".repeat(64)}`, cls: "agent" },
  { method: "POST", path: "/v1/agent/heartbeat", cls: "agent", body: { leaseIds: [LEASE] } },
  { method: "POST", path: "/v1/agent/results", cls: "agent", body: { results: [{ leaseId: LEASE, ok: true, value: 1 }] } },
  { method: "POST", path: "/v1/agent/release", cls: "agent", body: { leaseIds: [LEASE] } },
];

/** "METHOD /path" with ids as {id}, the way GET /v1/openapi.json names routes. */
export function docName(method: string, path: string): string {
  const p = path
    .replace(/\/v1\/queues\/[^/]+/, "/v1/queues/{queue}")
    .replace(/\/v1\/agent\/functions\/[^/]+/, "/v1/agent/functions/{fnHash}")
    .replace(/\/v1\/(jobs|batches|agents)\/(?!\{)[^/]+/, "/v1/$1/{id}");
  return `${method.toUpperCase()} ${p}`;
}

/**
 * Routes the coordinator documents (GET /v1/openapi.json) that `covered` does
 * not name: a route added later must join the matrix and the fuzzer. Null when
 * the coordinator publishes no document.
 */
export async function undocumentedGaps(client: RawClient, covered: string[]): Promise<string[] | null> {
  const reply = await client.send({ method: "GET", path: "/v1/openapi.json" });
  if (reply.status !== 200) return null;
  const doc = jsonOf(reply) as { paths?: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths ?? {}).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  return documented.filter((d) => !covered.includes(d));
}

export const COLUMNS = ["no token", "malformed", "wrong", "submit", "shared agent", "agent", "revoked agent", "agent, other X-Agent-Id"] as const;
export type Column = (typeof COLUMNS)[number];

/** What a cell must get: "pass" is any answer but 401/403 (and never 5xx); "n/a" is not sent. */
type Expect = { status: number; code?: string } | "pass" | "n/a";

export function expectedCell(cls: RouteClass, col: Column): Expect {
  if (cls === "public") return col === "agent, other X-Agent-Id" ? "n/a" : { status: 200 };
  const refused401 = { status: 401, code: "unauthorized" };
  if (col === "no token" || col === "malformed" || col === "wrong") return refused401;
  if (cls === "agent") {
    if (col === "submit") return { status: 403, code: "forbidden" };
    if (col === "shared agent") return { status: 401, code: "enroll_required" };
    if (col === "agent") return "pass";
    if (col === "revoked agent") return { status: 401, code: "revoked" };
    return { status: 401 };
  }
  if (col === "agent, other X-Agent-Id") return "n/a";
  const own = cls === "submit" ? "submit" : "shared agent";
  if (col === own) return "pass";
  if (col === "revoked agent") return { status: 401 };
  return { status: 403, code: "forbidden" };
}

export interface Identities {
  submit: string;
  shared: string;
  agent: Enrolled;
  other: Enrolled;
  revoked: Enrolled;
}

/** The Authorization header values a cell sends (several for "malformed": each must be refused). */
function authVariants(col: Column, cls: RouteClass, ids: Identities): Array<{ auth?: string; agentId?: string }> {
  const own = cls === "agent" ? ids.agent.credential : cls === "enroll" ? ids.shared : ids.submit;
  const agentId = ids.agent.agentId;
  switch (col) {
    case "no token":
      return [{ agentId }];
    case "malformed":
      // (Not "Bearer  <token>" or trailing white space: RFC 7235 allows several spaces, and servers trim OWS.)
      return [`Basic ${own}`, "Bearer", "Bearer ", own, `Bearer ${own} extra`, `Token ${own}`, `Bearer ${own},${own}`].map((auth) => ({ auth, agentId }));
    case "wrong":
      return [`Bearer not-a-token-${randomBytes(8).toString("hex")}`, `Bearer agc_${randomBytes(32).toString("base64url")}`].map((auth) => ({ auth, agentId }));
    case "submit":
      return [{ auth: `Bearer ${ids.submit}`, agentId }];
    case "shared agent":
      return [{ auth: `Bearer ${ids.shared}`, agentId }];
    case "agent":
      return [{ auth: `Bearer ${ids.agent.credential}`, agentId }];
    case "revoked agent":
      return [{ auth: `Bearer ${ids.revoked.credential}`, agentId: ids.revoked.agentId }];
    case "agent, other X-Agent-Id":
      return [{ auth: `Bearer ${ids.agent.credential}`, agentId: ids.other.agentId }];
  }
}

/** Whether a reply meets its expectation; non-2xx answers must be a JSON error with a code and a message. */
export function meets(reply: RawReply, expect: Expect): boolean {
  if (expect === "n/a") return true;
  if (reply.status === 0 || reply.status >= 500) return false;
  if (reply.status >= 300) {
    const body = jsonOf(reply);
    if (typeof body?.error?.code !== "string" || typeof body?.error?.message !== "string") return false;
    if (expect !== "pass" && expect.code !== undefined && body.error.code !== expect.code) return false;
  }
  if (expect === "pass") return reply.status !== 401 && reply.status !== 403;
  return reply.status === expect.status;
}

export interface MatrixResult {
  rows: Row[];
  cells: number;
  asExpected: number;
  failures: string[];
  /** Documented routes the matrix does not cover (null: no document). */
  uncovered: string[] | null;
  /** Requests sent again after the server reset a keep-alive connection (see http.ts). */
  resent: number;
}

export async function authMatrix(client: RawClient, ids: Identities): Promise<MatrixResult> {
  const out: MatrixResult = { rows: [], cells: 0, asExpected: 0, failures: [], uncovered: null, resent: 0 };
  for (const route of ROUTES) {
    const row: Row = { route: `${route.method} ${route.path.replace(/AAAA+/g, "…")}` };
    for (const col of COLUMNS) {
      const expect = expectedCell(route.cls, col);
      if (expect === "n/a") {
        row[col] = "—";
        continue;
      }
      let ok = true;
      let shown = "";
      for (const v of authVariants(col, route.cls, ids)) {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (v.auth !== undefined) headers.authorization = v.auth;
        if (v.agentId !== undefined) headers["x-agent-id"] = v.agentId;
        const reply = await client.send({ method: route.method, path: route.path, headers, body: route.body === undefined ? undefined : JSON.stringify(route.body) });
        if (reply.resent) out.resent++;
        const good = meets(reply, expect);
        if (!good) {
          ok = false;
          const code = jsonOf(reply)?.error?.code;
          out.failures.push(`${route.method} ${route.path} [${col}${v.auth ? ` ${JSON.stringify(v.auth.replace(/[A-Za-z0-9_-]{20,}/g, "<tok>"))}` : ""}]: got ${reply.status}${code ? ` ${code}` : ""}${reply.error ? ` (${reply.error})` : ""}, expected ${expect === "pass" ? "not 401/403" : `${expect.status}${expect.code ? ` ${expect.code}` : ""}`}`);
        }
        if (!shown || !good) shown = `${reply.status}${good ? "" : " ✗"}`;
      }
      out.cells++;
      if (ok) out.asExpected++;
      row[col] = shown;
    }
    out.rows.push(row);
  }
  out.uncovered = await undocumentedGaps(client, ROUTES.map((r) => docName(r.method, r.path)));
  out.rows.push({
    route: `${out.cells} cells (${ROUTES.length} routes; ${out.uncovered === null ? "no OpenAPI document" : `${out.uncovered.length} documented routes not covered`})`,
    "no token": `${out.asExpected} as expected`,
    malformed: pct(out.asExpected, out.cells),
    wrong: `${out.resent} resent`,
  });
  return out;
}

export interface AuthzReport {
  matrix: MatrixResult;
  checks: CheckRow[];
}

export async function authz(): Promise<AuthzReport> {
  const scope = new Scope();
  try {
    const coord = scope.add(await startCoordinator(), (c) => c.stop());
    const client = scope.add(rawClient(coord.url), (c) => c.close());
    const ids: Identities = {
      submit: coord.submitToken,
      shared: coord.agentToken,
      agent: await enroll(client, coord.agentToken, "matrix-agent"),
      other: await enroll(client, coord.agentToken, "matrix-other"),
      revoked: await enroll(client, coord.agentToken, "matrix-revoked"),
    };
    const revoked = await asSubmitter(client, coord.submitToken)("DELETE", `/v1/agents/${ids.revoked.agentId}`);
    if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status}`);
    const matrix = await authMatrix(client, ids);
    printGroup(`adversarial: authorization matrix (${ROUTES.length} routes × ${COLUMNS.length} credentials; ✗ = not the expected status/code)`, matrix.rows);
    const checks = await crossAgentChecks(client, coord, coord.agentToken);
    printGroup("adversarial: authorization across agents, revocation, rate limit", checks.map((c) => ({ check: c.check, expected: c.expected, got: c.got, "as expected": mark(c.ok) })));
    return { matrix, checks };
  } finally {
    await scope.close();
  }
}
