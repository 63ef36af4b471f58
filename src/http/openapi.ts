// GET /v1/openapi.json: an OpenAPI 3.1 document whose request bodies and
// query parameters are generated from the zod schemas the routes validate
// with, so the document and the validation cannot drift.

import { Hono } from "hono";
import { z } from "zod";
import {
  CreateFunctionBody,
  EnrollBody,
  ExchangeBody,
  HeartbeatBody,
  JobsQuery,
  PollBody,
  ReleaseBody,
  ResultsBody,
  ResultsQuery,
  SubmitJobsBody,
} from "../protocol/index.js";
import type { Env } from "../env.js";

type Auth = "none" | "submit" | "agentToken" | "agentCredential";

export interface RouteDoc {
  method: "get" | "post" | "delete";
  path: string;
  auth: Auth;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  /** Status → description. */
  responses: Record<string, string>;
}

const errors = { "400": "Bad input (`invalid_json`, `invalid_request`)", "401": "No or bad token", "403": "Token of the other role" };

export const ROUTES: RouteDoc[] = [
  { method: "get", path: "/", auth: "none", summary: "The dashboard (HTML), or a JSON description", responses: { "200": "HTML or JSON" } },
  { method: "get", path: "/dashboard.js", auth: "none", summary: "The dashboard's script", responses: { "200": "JavaScript" } },
  { method: "get", path: "/v1/keys", auth: "none", summary: "Public signing keys (JWKS)", responses: { "200": "JWKS" } },
  { method: "get", path: "/v1/openapi.json", auth: "none", summary: "This document", responses: { "200": "OpenAPI 3.1" } },
  { method: "post", path: "/v1/jobs", auth: "submit", summary: "Submit a batch: one job per input", body: SubmitJobsBody, responses: { "201": "{batchId, jobIds, fnHash}", "404": "unknown_function", "409": "idempotency_conflict", "413": "payload_too_large / input_too_large", ...errors } },
  { method: "post", path: "/v1/functions", auth: "submit", summary: "Store a function source by its sha256", body: CreateFunctionBody, responses: { "201": "{fnHash}", ...errors } },
  { method: "get", path: "/v1/jobs/{id}", auth: "submit", summary: "A job: state, attempts, history, result", responses: { "200": "JobView", "404": "not_found", ...errors } },
  { method: "delete", path: "/v1/jobs/{id}", auth: "submit", summary: "Cancel a queued or running job", responses: { "200": "{cancelled}", "404": "not_found", ...errors } },
  { method: "post", path: "/v1/jobs/{id}/retry", auth: "submit", summary: "Re-queue a failed job", responses: { "200": "{requeued}", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/batches/{id}", auth: "submit", summary: "Counts by state", responses: { "200": "BatchView", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/batches/{id}/results", auth: "submit", summary: "Results in completion order (long-poll)", query: ResultsQuery, responses: { "200": "{results, next, done}", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/batches/{id}/events", auth: "submit", summary: "Results as Server-Sent Events, or NDJSON with format=ndjson", query: z.object({ format: z.enum(["sse", "ndjson"]).optional(), after: z.coerce.number().int().min(0).optional() }), responses: { "200": "text/event-stream or application/x-ndjson", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/batches/{id}/jobs", auth: "submit", summary: "Jobs with history; state=failed is the dead-letter view", query: JobsQuery, responses: { "200": "{jobs, next, more}", "404": "not_found", ...errors } },
  { method: "post", path: "/v1/batches/{id}/retry", auth: "submit", summary: "Re-queue every failed job of a batch", responses: { "200": "{requeued}", "404": "not_found", ...errors } },
  { method: "delete", path: "/v1/batches/{id}", auth: "submit", summary: "Cancel everything unfinished", responses: { "200": "{cancelled}", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/queues/{queue}/overview", auth: "submit", summary: "A queue at a glance: counts, agents, throughput, recent results", responses: { "200": "QueueOverview", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/agents", auth: "submit", summary: "Enrolled agents", responses: { "200": "{agents}", ...errors } },
  { method: "delete", path: "/v1/agents/{id}", auth: "submit", summary: "Revoke an agent and release its leases", responses: { "200": "{revoked, released}", "404": "not_found", ...errors } },
  { method: "get", path: "/v1/metrics", auth: "submit", summary: "Prometheus metrics", responses: { "200": "text/plain", ...errors } },
  { method: "post", path: "/v1/agent/enroll", auth: "agentToken", summary: "Enroll: get an agent id and credential", body: EnrollBody, responses: { "201": "{agentId, credential}", ...errors } },
  { method: "post", path: "/v1/agent/poll", auth: "agentCredential", summary: "Long-poll for a signed envelope of tasks", body: PollBody, responses: { "200": "Envelope", "204": "No work within wait", "429": "rate_limited", ...errors } },
  { method: "post", path: "/v1/agent/exchange", auth: "agentCredential", summary: "Results, heartbeats and the next tasks in one request", body: ExchangeBody, responses: { "200": "{envelope, results, heartbeat}", "429": "rate_limited", ...errors } },
  { method: "get", path: "/v1/agent/functions/{fnHash}", auth: "agentCredential", summary: "Function source", responses: { "200": "{fnHash, source}", "404": "not_found", ...errors } },
  { method: "post", path: "/v1/agent/heartbeat", auth: "agentCredential", summary: "Confirm and extend leases", body: HeartbeatBody, responses: { "200": "{active, cancelled, stale}", ...errors } },
  { method: "post", path: "/v1/agent/results", auth: "agentCredential", summary: "Report results", body: ResultsBody, responses: { "200": "{accepted, stale}", ...errors } },
  { method: "post", path: "/v1/agent/release", auth: "agentCredential", summary: "Give leases back without spending attempts", body: ReleaseBody, responses: { "200": "{released, stale}", ...errors } },
];

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", unrepresentable: "any" });

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const queryParams = route.query
      ? Object.entries((jsonSchema(route.query) as { properties?: Record<string, unknown> }).properties ?? {}).map(([name, schema]) => ({ name, in: "query", required: false, schema }))
      : [];
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      security: route.auth === "none" ? [] : [{ [route.auth]: [] }],
      ...(pathParams.length + queryParams.length ? { parameters: [...pathParams, ...queryParams] } : {}),
      ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(route.body) } } } } : {}),
      responses: Object.fromEntries(Object.entries(route.responses).map(([status, description]) => [status, { description }])),
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "dist coordinator", version: "1", description: "Volunteer computing for JavaScript. Errors are {\"error\":{\"code\",\"message\"}}." },
    components: {
      securitySchemes: {
        submit: { type: "http", scheme: "bearer", description: "SUBMIT_TOKEN" },
        agentToken: { type: "http", scheme: "bearer", description: "The shared AGENT_TOKEN (enrollment only)" },
        agentCredential: { type: "http", scheme: "bearer", description: "An agent's own credential, with X-Agent-Id" },
      },
    },
    paths,
  };
}

export const openApiRoutes = new Hono<{ Bindings: Env }>();
let cached: Record<string, unknown> | undefined;
openApiRoutes.get("/v1/openapi.json", (c) => c.json((cached ??= openApiDocument())));
