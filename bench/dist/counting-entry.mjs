// The coordinator Worker as the bench runs it: src/index.ts unchanged, behind
// a fetch wrapper that counts every request the Worker serves, by route, and
// the distinct agents that polled (POST /v1/agent/poll or /exchange). Counting here (one increment per request)
// is exact and adds no hop, unlike a counting proxy. GET /__bench/stats
// reads the counters and is itself not counted.

import app from "../../src/index.ts";
export * from "../../src/index.ts";

const counts = Object.create(null);
const pollers = new Set();

const ROUTES = [
  ["POST", /^\/v1\/agent\/poll$/, "agent poll"],
  ["POST", /^\/v1\/agent\/exchange$/, "agent exchange"],
  ["POST", /^\/v1\/agent\/results$/, "agent results"],
  ["POST", /^\/v1\/agent\/heartbeat$/, "agent heartbeat"],
  ["GET", /^\/v1\/agent\/functions\//, "agent function"],
  ["POST", /^\/v1\/agent\/enroll$/, "agent enroll"],
  ["POST", /^\/v1\/agent\/release$/, "agent release"],
  ["POST", /^\/v1\/jobs$/, "submit jobs"],
  ["GET", /^\/v1\/batches\/[^/]+\/results$/, "submit results"],
];

function routeOf(method, path) {
  for (const [m, re, name] of ROUTES) if (m === method && re.test(path)) return name;
  return `other ${method} ${path.startsWith("/v1/agent/") ? "/v1/agent/*" : path.startsWith("/v1/") ? "/v1/*" : path}`;
}

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/__bench/stats") return Response.json({ counts, pollers: pollers.size });
    const route = routeOf(request.method, path);
    counts[route] = (counts[route] ?? 0) + 1;
    if (route === "agent poll" || route === "agent exchange") {
      const id = request.headers.get("x-agent-id");
      if (id) pollers.add(id);
    }
    return app.fetch(request, env, ctx);
  },
};
