// dist's routes as the fuzzer sees them (test/helpers/fuzz.ts is generic over
// these): method, path with the place of the id, who may call it, a valid
// body to start mutating from, and whether it long-polls or answers with
// something other than JSON. docOf() names each the way GET /v1/openapi.json
// does, so a route the coordinator adds later shows up as not covered.

import type { Harvest, RouteTemplate } from "../helpers/fuzz.js";

const lease = (h: Harvest) => h.pick(h.leases, "default.AAAAAAAAAAAAAAAAAAAAAA");
/** Agents' queues: "audit" holds the known batch the invariants check, so fuzzed agents take (and keep, fail, finish) some of it. */
const agentQueue = (h: Harvest) => h.pick(["fuzz", "audit", "default"], "fuzz");

export const ROUTES: RouteTemplate[] = [
  { label: "GET /", method: "GET", path: "/", cls: "public", textual: true },
  { label: "GET /dashboard.js", method: "GET", path: "/dashboard.js", cls: "public", textual: true },
  { label: "GET /v1/keys", method: "GET", path: "/v1/keys", cls: "public" },
  { label: "GET /v1/openapi.json", method: "GET", path: "/v1/openapi.json", cls: "public" },
  { label: "POST /v1/jobs", method: "POST", path: "/v1/jobs", cls: "submit", body: () => ({ fn: "(x) => x", inputs: [1, 2], queue: "fuzz" }) },
  { label: "POST /v1/functions", method: "POST", path: "/v1/functions", cls: "submit", body: () => ({ source: "(x) => x + 1" }) },
  { label: "GET /v1/jobs/:id", method: "GET", path: "/v1/jobs/:id", cls: "submit", id: "job" },
  { label: "DELETE /v1/jobs/:id", method: "DELETE", path: "/v1/jobs/:id", cls: "submit", id: "job" },
  { label: "POST /v1/jobs/:id/retry", method: "POST", path: "/v1/jobs/:id/retry", cls: "submit", id: "job" },
  { label: "GET /v1/batches/:id", method: "GET", path: "/v1/batches/:id", cls: "submit", id: "batch" },
  { label: "GET /v1/batches/:id/results", method: "GET", path: "/v1/batches/:id/results", cls: "submit", id: "batch", query: true, longPoll: true },
  { label: "GET /v1/batches/:id/events", method: "GET", path: "/v1/batches/:id/events", cls: "submit", id: "batch", query: true, longPoll: true, textual: true },
  { label: "GET /v1/batches/:id/jobs", method: "GET", path: "/v1/batches/:id/jobs", cls: "submit", id: "batch", query: true },
  { label: "POST /v1/batches/:id/retry", method: "POST", path: "/v1/batches/:id/retry", cls: "submit", id: "batch" },
  { label: "DELETE /v1/batches/:id", method: "DELETE", path: "/v1/batches/:id", cls: "submit", id: "batch" },
  { label: "GET /v1/queues/:queue/overview", method: "GET", path: "/v1/queues/:id/overview", cls: "submit", id: "queue" },
  { label: "GET /v1/agents", method: "GET", path: "/v1/agents", cls: "submit" },
  { label: "DELETE /v1/agents/:id", method: "DELETE", path: "/v1/agents/:id", cls: "submit", id: "agent" },
  { label: "GET /v1/metrics", method: "GET", path: "/v1/metrics", cls: "submit", query: true, textual: true },
  { label: "POST /v1/agent/enroll", method: "POST", path: "/v1/agent/enroll", cls: "enroll", body: () => ({ name: "fuzzed", labels: ["a"] }) },
  { label: "POST /v1/agent/poll", method: "POST", path: "/v1/agent/poll", cls: "agent", longPoll: true, body: (h) => ({ slots: 2, wait: 0, queue: agentQueue(h) }) },
  {
    label: "POST /v1/agent/exchange",
    method: "POST",
    path: "/v1/agent/exchange",
    cls: "agent",
    longPoll: true,
    body: (h) => ({ queue: agentQueue(h), slots: 1, wait: 0, results: [{ leaseId: lease(h), ok: true, value: 1 }], leaseIds: [lease(h)], progress: [{ leaseId: lease(h), fraction: 0.5, message: "half" }] }),
  },
  { label: "GET /v1/agent/functions/:fnHash", method: "GET", path: "/v1/agent/functions/:id", cls: "agent", id: "fn" },
  { label: "POST /v1/agent/heartbeat", method: "POST", path: "/v1/agent/heartbeat", cls: "agent", body: (h) => ({ leaseIds: [lease(h)] }) },
  { label: "POST /v1/agent/results", method: "POST", path: "/v1/agent/results", cls: "agent", body: (h) => ({ results: [{ leaseId: lease(h), ok: true, value: 1 }] }) },
  { label: "POST /v1/agent/release", method: "POST", path: "/v1/agent/release", cls: "agent", body: (h) => ({ queue: agentQueue(h), leaseIds: [lease(h)] }) },
  { label: "POST /v1/debug/reset/:queue", method: "POST", path: "/v1/debug/reset/:id", cls: "submit", id: "queue" },
  { label: "(other paths)", method: "GET", path: ":id", cls: "none" },
];

/** "METHOD /path" of a route template, as GET /v1/openapi.json names it. */
export function docOf(route: RouteTemplate): string | undefined {
  if (route.cls === "none" || route.path.startsWith("/v1/debug")) return undefined;
  const path = route.path
    .replace("/v1/queues/:id", "/v1/queues/{queue}")
    .replace("/v1/agent/functions/:id", "/v1/agent/functions/{fnHash}")
    .replace(":id", "{id}");
  return `${route.method} ${path}`;
}
