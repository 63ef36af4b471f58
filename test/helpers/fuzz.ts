// The request fuzzer of the adversarial suite: fast-check generates request
// *plans* (which route, which credential, which hostile id, query, headers
// and body mutation) from a seed, so a run is reproducible; a plan becomes
// bytes only when it is sent, with ids the run has harvested so far (real
// batches, jobs, leases, agents), so hostile requests also hit live records.
// The routes are the caller's (test/adversarial/fuzz-routes.ts). judge() is
// the verdict on one answer: never 5xx, every non-2xx a JSON
// `{error:{code,message}}` without stack text, no secret echoed.

import fc from "fast-check";

export type Role = "none" | "malformed" | "wrong" | "submit" | "shared" | "credential" | "revoked";
export type RouteClass = "public" | "submit" | "enroll" | "agent" | "none";

export interface RouteTemplate {
  label: string;
  method: string;
  /** Path with `:id` where the hostile or harvested id goes. */
  path: string;
  cls: RouteClass;
  /** The id kind a valid request would carry. */
  id?: "batch" | "job" | "agent" | "fn" | "queue";
  query?: boolean;
  /** A valid body, from harvested values. */
  body?: (h: Harvest) => Record<string, unknown>;
  /** Long-polls: a request may be abandoned by the client, not a failure. */
  longPoll?: boolean;
  /** Answers 2xx with something other than one JSON document (a stream, HTML, JavaScript, metrics text). */
  textual?: boolean;
}

/** Ids seen so far; `pick(list, n)` chooses deterministically from a plan's number. */
export interface Harvest {
  batches: string[];
  jobs: string[];
  leases: string[];
  agents: string[];
  fns: string[];
  pick(list: string[], fallback: string): string;
}

/** Emitted into JSON verbatim: numbers JSON can hold but JS cannot, `__proto__` keys, broken text. */
export class Raw {
  constructor(readonly text: string) {}
}
/** A string of `chars` characters, built only when sent. */
export class Big {
  constructor(readonly chars: number) {}
}
/** `depth` nested arrays, built only when sent. */
export class Deep {
  constructor(readonly depth: number) {}
}

const QUEUES = ["default", "fuzz", "audit"];

// --- hostile material ---

const HOSTILE_IDS = [
  "..", "../..", "..%2F..%2Fv1%2Fagents", "%2e%2e%2f%2e%2e%2fv1%2fagents", "default.AAAAAAAAAAAAAAAA%2F..%2F..", "%00", "default.AAAAAAAAAAAAAAAA%00",
  "%ff%fe", "%", "%zz", "%E2%80%AE", "%F0%9F%92%A9", "%C3%BC%C3%B1%C3%AF", "%ED%A0%80", "__proto__", "constructor", "prototype",
  "default.__proto__.0", "-1", "0", "1e309", "null", "undefined", "NaN", "default.AAAAAAAAAAAAAAAA.9999999", "default.AAAAAAAAAAAAAAAA.-1",
  "default.AAAAAAAAAAAAAAAA.01", "DEFAULT.AAAAAAAAAAAAAAAA", "default..", "default.AAAAAAAAAAAAAAAA'%20OR%201=1--", "x%3BDROP%20TABLE%20jobs",
  "%20", "default.AAAAAAAAAAAAAAAA%0d%0aX-Injected:%201", "*", "%2A", "a".repeat(3000), "b".repeat(7000), `default.${"A".repeat(500)}`,
  "0".repeat(64), "g".repeat(64), "A".repeat(64), "default.AAAAAAAAAAAAAAAA.0/../../agents", "default.AAAAAAAAAAAAAAAA//", "default;x",
];
const OTHER_PATHS = ["/v1", "/v1/", "/v1/jobs/", "//v1//jobs", "/v1/batches", "/v1/agent", "/v1/agent/", "/v1/agent/functions", "/v1/batches/x/events", "/v2/jobs", "/.env", "/wp-admin", "/v1/jobs/x/y/z", "/v1/agents/x/y", "/%2e%2e/%2e%2e/etc/passwd", "/v1/agent/../jobs", "/v1/agent/%2e%2e/jobs"];

const idArb: fc.Arbitrary<{ kind: "harvest" | "shaped" | "hostile" | "fuzzed"; text: string; n: number }> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((n) => ({ kind: "harvest" as const, text: "", n })) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{16}$/).map((r) => ({ kind: "shaped" as const, text: r, n: 0 })) },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_IDS).map((text) => ({ kind: "hostile" as const, text, n: 0 })) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }).map((s) => ({ kind: "fuzzed" as const, text: encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "?")), n: 0 })) },
);

const QUERY_VALUES: Record<string, string[]> = {
  after: ["-1", "0", "1", "abc", "1e309", "-99999999999999999999", "0x10", "", "1.5", "%20%203", "9007199254740993"],
  wait: ["0", "0.1", "26", "-1", "abc", "1e309", "NaN", "Infinity", "0.5"],
  limit: ["0", "1", "1000", "1001", "abc", "-5", "1e3"],
  state: ["queued", "failed", "weird", "__proto__", "", "DONE"],
  format: ["ndjson", "sse", "json", ""],
  "__proto__[polluted]": ["1"],
  "constructor[prototype][polluted]": ["1"],
};
const queryArb = fc
  .array(fc.tuple(fc.constantFrom(...Object.keys(QUERY_VALUES)), fc.nat()), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, n]) => `${encodeURIComponent(k)}=${QUERY_VALUES[k]![n % QUERY_VALUES[k]!.length]!}`).join("&"));

/** Values a field may be set to. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 53 + 2, Number.MAX_VALUE, 1e-300, "", "0", "1", "default", "__proto__", [], {}, [[]], ["\ud800"], "\u0000", "\ud800", "𝕏".repeat(10)) },
  { weight: 2, arbitrary: fc.constantFrom(new Raw("1e309"), new Raw("-1e309"), new Raw("1e-400"), new Raw("123456789012345678901234567890"), new Raw("-0"), new Raw('{"__proto__":{"polluted":true}}'), new Raw('{"constructor":{"prototype":{"polluted":true}}}'), new Raw('"\\ud800"'), new Raw('"\\u0000"')) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  { weight: 2, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 4 }) },
  { weight: 2, arbitrary: fc.constantFrom(new Big(70_000), new Big(1_100_000), new Deep(100), new Deep(5_000), new Deep(100_000)) },
);

const BROKEN_BODIES = [
  "", "{", "nul", "[1,2", '{"a":}', "\u0000", "\ufeff{}", "{} garbage", "// c\n{}", "{'a':1}", "NaN", "[NaN]", '{"slots":1,}', '"string"', "123", "true", "null", "[]", "{}",
  '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"a":1,"a":2}',
];

export type BodyPlan =
  | { kind: "none" }
  | { kind: "template"; edits: Edit[]; proto: boolean; items: number }
  | { kind: "broken"; text: string }
  | { kind: "deep-raw"; depth: number }
  | { kind: "bytes"; bytes: number[] }
  | { kind: "huge"; bytes: number };

/**
 * One change to a valid body: mostly to a field the route's body has (`own`,
 * the n-th of its leaf paths), else to any field of any route (unknown keys).
 */
export interface Edit {
  own: boolean;
  n: number;
  field: string;
  value: unknown;
  drop: boolean;
}

const FIELDS = ["fn", "fnHash", "input", "inputs", "queue", "timeoutMs", "graceMs", "maxAttempts", "priority", "signer", "signatures", "source", "name", "labels", "slots", "wait", "session", "leaseIds", "unconfirmed", "results", "results.0.leaseId", "results.0.ok", "results.0.value", "results.0.error", "results.0.rejected", "progress.0.fraction", "progress.0.message", "surprise"];

// Weights: mostly valid bodies with a few fields made hostile; a huge (413) body about once in 200.
const bodyArb: fc.Arbitrary<BodyPlan> = fc.oneof(
  { weight: 20, arbitrary: fc.constant({ kind: "none" as const }) },
  {
    weight: 120,
    arbitrary: fc.record({
      kind: fc.constant("template" as const),
      edits: fc.array(
        fc.record({ own: fc.integer({ min: 0, max: 9 }).map((n) => n < 8), n: fc.nat(), field: fc.constantFrom(...FIELDS), value: hostileValue, drop: fc.integer({ min: 0, max: 5 }).map((n) => n === 0) }),
        { minLength: 0, maxLength: 3 },
      ),
      proto: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      items: fc.constantFrom(1, 1, 1, 3, 1001),
    }),
  },
  { weight: 30, arbitrary: fc.constantFrom(...BROKEN_BODIES).map((text) => ({ kind: "broken" as const, text })) },
  { weight: 10, arbitrary: fc.constantFrom(1_000, 100_000).map((depth) => ({ kind: "deep-raw" as const, depth })) },
  { weight: 10, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map((bytes) => ({ kind: "bytes" as const, bytes })) },
  { weight: 1, arbitrary: fc.constantFrom(17 * 1024 * 1024, 2 * 1024 * 1024, 2 * 1024 * 1024).map((bytes) => ({ kind: "huge" as const, bytes })) },
);

/** "own" is the route's own credential; the others are everything a route must refuse (or ignore). */
export type PlanRole = Role | "own";

export interface Plan {
  route: number;
  method: string | null;
  id: { kind: "harvest" | "shaped" | "hostile" | "fuzzed"; text: string; n: number };
  query: string;
  role: PlanRole;
  agentIdHeader: "own" | "other" | "none" | "hostile";
  contentType: string | null;
  extra: Record<string, string>;
  body: BodyPlan;
  pick: number;
}

const roleArb: fc.Arbitrary<PlanRole> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<PlanRole>("own") },
  { weight: 3, arbitrary: fc.constantFrom<PlanRole>("none", "malformed", "wrong", "submit", "shared", "credential", "revoked") },
);

/** Plans over `routeCount` route templates. */
export const planArb = (routeCount: number): fc.Arbitrary<Plan> => fc.record({
  route: fc.nat(routeCount - 1),
  method: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") }),
  id: idArb,
  query: fc.oneof({ weight: 1, arbitrary: fc.constant("") }, { weight: 2, arbitrary: queryArb }),
  role: roleArb,
  agentIdHeader: fc.oneof({ weight: 12, arbitrary: fc.constant("own" as const) }, { weight: 1, arbitrary: fc.constantFrom("other" as const, "none" as const, "hostile" as const) }),
  contentType: fc.oneof({ weight: 8, arbitrary: fc.constant("application/json") }, { weight: 1, arbitrary: fc.constantFrom(null, "text/plain", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded") }),
  extra: fc.record(
    {
      "idempotency-key": fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), fc.constantFrom("", " ", "k".repeat(300), "caf\u00e9")),
      "content-encoding": fc.constantFrom("gzip", "br", "deflate", "identity"),
      "x-forwarded-for": fc.constantFrom("127.0.0.1", "::1", "1.1.1.1, 2.2.2.2"),
      "cf-connecting-ip": fc.constantFrom("10.0.0.1"),
      accept: fc.constantFrom("text/html", "*/*", "application/json", "text/event-stream"),
      "last-event-id": fc.constantFrom("0", "-1", "abc", "1e309", "99999999999999999999", "3"),
      "x-junk": fc.stringMatching(/^[\x20-\x7e]{0,2000}$/),
    },
    { requiredKeys: [] },
  ),
  body: bodyArb,
  pick: fc.nat(),
});

/** `count` plans over `routes` from `seed`: the same seed always gives the same plans. */
export function plans(count: number, seed: number, routes: RouteTemplate[]): Plan[] {
  return fc.sample(planArb(routes.length), { seed, numRuns: count });
}

// --- from plan to bytes ---

export interface Credentials {
  submit: string;
  shared: string;
  agents: Array<{ agentId: string; credential: string }>;
  revoked: { agentId: string; credential: string };
}

function resolve(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Big) return JSON.stringify("x".repeat(value.chars));
  if (value instanceof Deep) return "[".repeat(value.depth) + "]".repeat(value.depth);
  if (Array.isArray(value)) return `[${value.map(resolve).join(",")}]`;
  if (value !== null && typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${resolve(v)}`).join(",")}}`;
  return JSON.stringify(value) ?? "null";
}

/** A fresh copy of a generated value: constants are shared between plans and must not be edited in place (or made to contain themselves). */
function fresh(value: unknown): unknown {
  if (value instanceof Raw || value instanceof Big || value instanceof Deep || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(fresh);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: fresh(v), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Dotted paths of every leaf and array of a body (e.g. "results.0.value"). */
function leafPaths(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object") return prefix ? [prefix] : [];
  const entries = Object.entries(value as Record<string, unknown>);
  const own = prefix ? [prefix] : [];
  return [...own, ...entries.flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k))];
}

function setPath(target: Record<string, any>, path: string, value: unknown, drop: boolean): void {
  const parts = path.split(".");
  let node: any = target;
  for (const p of parts.slice(0, -1)) {
    if (node[p] === null || typeof node[p] !== "object") return;
    node = node[p];
  }
  const last = parts.at(-1)!;
  if (drop) delete node[last];
  else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
}

function bodyBytes(plan: Plan, route: RouteTemplate, h: Harvest): Buffer | undefined {
  const b = plan.body;
  switch (b.kind) {
    case "none":
      return undefined;
    case "broken":
      return Buffer.from(b.text);
    case "deep-raw":
      return Buffer.from("[".repeat(b.depth) + (b.depth > 10_000 ? "" : "]".repeat(b.depth)));
    case "bytes":
      return Buffer.from(b.bytes);
    case "huge":
      return Buffer.from(JSON.stringify({ fn: "(x) => x", input: "y".repeat(b.bytes) }));
    case "template": {
      const body: Record<string, any> = route.body?.(h) ?? {};
      if (b.items > 1 && Array.isArray(body.results)) body.results = Array.from({ length: b.items }, () => ({ ...body.results[0] }));
      if (b.items > 1 && Array.isArray(body.leaseIds)) body.leaseIds = Array.from({ length: b.items }, (_, i) => h.pick(h.leases.slice(i), "x"));
      const paths = leafPaths(body);
      for (const e of b.edits) setPath(body, e.own && paths.length ? paths[e.n % paths.length]! : e.field, fresh(e.value), e.drop);
      let text = resolve(body);
      if (b.proto) text = text.replace(/^\{/, '{"__proto__":{"slots":1,"fn":"(x)=>x","polluted":true},');
      return Buffer.from(text);
    }
  }
}

function idText(plan: Plan, route: RouteTemplate, h: Harvest): string {
  if (route.cls === "none") return OTHER_PATHS[plan.id.n % OTHER_PATHS.length]!;
  if (plan.id.kind === "harvest") {
    const n = plan.id.n;
    const pool = { batch: h.batches, job: h.jobs, agent: h.agents, fn: h.fns, queue: QUEUES }[route.id ?? "batch"];
    return pool.length ? pool[n % pool.length]! : "default.AAAAAAAAAAAAAAAA";
  }
  if (plan.id.kind === "shaped") return route.id === "job" ? `default.${plan.id.text}.${plan.pick % 3}` : `${QUEUES[plan.pick % 3]}.${plan.id.text}`;
  return plan.id.text;
}

export interface Built {
  route: RouteTemplate;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export function build(plan: Plan, routes: RouteTemplate[], creds: Credentials, h: Harvest): Built {
  const route = routes[plan.route]!;
  const method = plan.method ?? route.method;
  let path = route.path.includes(":id") ? route.path.replace(":id", idText(plan, route, h)) : route.path;
  if (route.query || plan.query) path += `?${plan.query}`;
  const agent = creds.agents[plan.pick % creds.agents.length]!;
  const ownToken = route.cls === "agent" ? agent.credential : route.cls === "enroll" ? creds.shared : creds.submit;
  const role = plan.role;
  const token: Record<Role, string | undefined> = {
    none: undefined,
    malformed: `Basic ${ownToken}`,
    wrong: "Bearer not-a-token",
    submit: `Bearer ${creds.submit}`,
    shared: `Bearer ${creds.shared}`,
    credential: `Bearer ${agent.credential}`,
    revoked: `Bearer ${creds.revoked.credential}`,
  };
  const headers: Record<string, string> = { ...plan.extra };
  if (plan.extra["content-encoding"] === "identity" || !plan.extra["content-encoding"]) delete headers["content-encoding"];
  const auth = role === "own" ? `Bearer ${ownToken}` : token[role];
  if (auth !== undefined) headers.authorization = auth;
  const agentIds = { own: role === "revoked" ? creds.revoked.agentId : agent.agentId, other: creds.agents[(plan.pick + 1) % creds.agents.length]!.agentId, none: undefined, hostile: "x".repeat(200) };
  const agentId = agentIds[plan.agentIdHeader];
  if (agentId !== undefined) headers["x-agent-id"] = agentId;
  if (plan.contentType) headers["content-type"] = plan.contentType;
  const body = method === "GET" || method === "HEAD" ? undefined : bodyBytes(plan, route, h);
  return { route, method, path, headers, ...(body ? { body } : {}) };
}

// --- the verdict on one answer ---

const STACK = /\n\s+at\s|\bat [^\s()]+ \([^)]*:\d+:\d+\)|\.(?:ts|js|mjs):\d+:\d+|node_modules\//;

/** Problems with one answer (empty when it is fine). An abandoned long-poll is not a problem. */
export function judge(built: Built, reply: { status: number; headers: Record<string, unknown>; text: string; error?: string }, secrets: string[]): string[] {
  const problems: string[] = [];
  if (reply.status === 0) {
    if (!(built.route.longPoll && reply.error === "timeout")) problems.push(`no answer (${reply.error})`);
    return problems;
  }
  if (reply.status >= 500) problems.push(`status ${reply.status}`);
  for (const s of secrets) if (s && reply.text.includes(s)) problems.push("a secret in the answer");
  if (built.method === "HEAD" || reply.status === 204) return problems;
  const contentType = String(reply.headers["content-type"] ?? "");
  // A 2xx may be HTML, JavaScript, a stream or metrics text (a path with dot-segments can land on GET /);
  // what says it is JSON must be JSON. Everything else must be the JSON error shape.
  if (reply.status < 300 && (built.route.textual || !contentType.includes("json") || contentType.includes("ndjson"))) return problems;
  let body: any;
  try {
    body = JSON.parse(reply.text);
  } catch {
    problems.push(`${reply.status} answer is not JSON`);
    return problems;
  }
  if (reply.status >= 300) {
    if (!String(reply.headers["content-type"] ?? "").includes("application/json")) problems.push("error without a JSON content-type");
    if (typeof body?.error?.code !== "string" || !/^[a-z][a-z0-9_]*$/.test(body.error.code) || typeof body?.error?.message !== "string") {
      problems.push(`${reply.status} answer is not {error:{code,message}}`);
    }
    if (STACK.test(reply.text)) problems.push("stack trace text in an error");
  }
  return problems;
}
