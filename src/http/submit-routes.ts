// Routes for submitters (SUBMIT_TOKEN): jobs, functions, batches, results.

import { Hono } from "hono";
import {
  CreateFunctionBody,
  DEFAULT_QUEUE,
  JobsQuery,
  LIMITS,
  QUEUE_NAME_RE,
  newBatchId,
  ResultsQuery,
  sha256Hex,
  SubmitJobsBody,
  importSignerKey,
  verifyJob,
} from "../protocol/index.js";
import type { Env } from "../env.js";
import { agentRegistry } from "../queue/agent-registry.js";
import { functionRegistry } from "../queue/function-registry.js";
import { isKnownFunction, noteKnownFunction } from "./known-functions.js";
import { requireRole } from "./auth.js";
import { metricsRoutes } from "./metrics.js";
import { streamRoutes } from "./stream-routes.js";
import { ApiError, unwrap } from "./errors.js";
import { batchRef, jobRef, queueStub } from "./stubs.js";
import { jsonBody, parseJson, readText, validate } from "./validate.js";

export const submitRoutes = new Hono<{ Bindings: Env }>();
submitRoutes.use(requireRole("submit"));
submitRoutes.route("/", streamRoutes);
submitRoutes.route("/", metricsRoutes);

function serializeInputs(body: SubmitJobsBody): string[] {
  const inputs = body.inputs ?? [body.input ?? null];
  return inputs.map((input, i) => {
    const text = JSON.stringify(input ?? null);
    if (text.length > LIMITS.maxInputBytes) {
      throw new ApiError(413, "input_too_large", `input ${i} is larger than ${LIMITS.maxInputBytes} bytes of JSON`);
    }
    return text;
  });
}

/** Refuses a signed batch unless every input's signature holds: agents would refuse it anyway. */
async function checkSignatures(signer: string, signatures: string[], fnHash: string, inputs: unknown[]): Promise<void> {
  const key = await importSignerKey(signer);
  if (!key) throw new ApiError(400, "invalid_request", "signer is not an Ed25519 public key");
  for (let i = 0; i < inputs.length; i++) {
    if (!(await verifyJob(key, signatures[i]!, fnHash, inputs[i] ?? null))) {
      throw new ApiError(400, "bad_signature", `signature ${i} does not verify for this function and input`);
    }
  }
}

submitRoutes.post("/jobs", async (c) => {
  const text = await readText(c);
  const body = validate(SubmitJobsBody, parseJson(text));
  const queue = body.queue ?? DEFAULT_QUEUE;
  const inputs = serializeInputs(body);
  const registry = functionRegistry(c.env);
  let fnHash: string;
  if (body.fn !== undefined) {
    fnHash = await sha256Hex(body.fn);
    if (!isKnownFunction(fnHash)) fnHash = await registry.put(body.fn);
  } else {
    fnHash = body.fnHash!;
    if (!isKnownFunction(fnHash) && !(await registry.has(fnHash))) {
      throw new ApiError(404, "unknown_function", `no function ${fnHash}: POST /v1/functions first, or send fn`);
    }
  }
  noteKnownFunction(fnHash);
  if (body.signer) await checkSignatures(body.signer, body.signatures ?? [], fnHash, body.inputs ?? [body.input ?? null]);
  const idempotencyKey = c.req.header("idempotency-key");
  if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
    throw new ApiError(400, "invalid_request", "Idempotency-Key must be 1-200 printable ASCII characters");
  }
  const outcome = await queueStub(c.env, queue).submit({
    batchId: newBatchId(queue),
    fnHash,
    inputs,
    timeoutMs: body.timeoutMs,
    graceMs: body.graceMs,
    maxAttempts: body.maxAttempts,
    priority: body.priority,
    idempotencyKey,
    bodyDigest: idempotencyKey ? await sha256Hex(text) : undefined,
    signer: body.signer,
    signatures: body.signatures,
  });
  return c.json(unwrap(outcome), 201);
});

submitRoutes.post("/functions", async (c) => {
  const { source } = await jsonBody(c, CreateFunctionBody);
  const fnHash = await functionRegistry(c.env).put(source);
  noteKnownFunction(fnHash);
  return c.json({ fnHash }, 201);
});

submitRoutes.get("/jobs/:id", async (c) => {
  const ref = jobRef(c.req.param("id"));
  const job = await queueStub(c.env, ref.queue).job(ref.queue, c.req.param("id"));
  if (!job) throw new ApiError(404, "not_found", `no job ${c.req.param("id")}`);
  return c.json(job);
});

submitRoutes.delete("/jobs/:id", async (c) => {
  const ref = jobRef(c.req.param("id"));
  return c.json(unwrap(await queueStub(c.env, ref.queue).cancel({ jobId: c.req.param("id") })));
});

submitRoutes.post("/jobs/:id/retry", async (c) => {
  const ref = jobRef(c.req.param("id"));
  return c.json(unwrap(await queueStub(c.env, ref.queue).retry({ jobId: c.req.param("id") })));
});

submitRoutes.get("/batches/:id", async (c) => {
  const { queue } = batchRef(c.req.param("id"));
  const batch = await queueStub(c.env, queue).batch(queue, c.req.param("id"));
  if (!batch) throw new ApiError(404, "not_found", `no batch ${c.req.param("id")}`);
  return c.json(batch);
});

submitRoutes.get("/batches/:id/results", async (c) => {
  const { queue } = batchRef(c.req.param("id"));
  const query = validate(ResultsQuery, c.req.query());
  const page = await queueStub(c.env, queue).results(c.req.param("id"), query.after, query.wait * 1000, query.limit);
  return c.json(unwrap(page));
});

/** The batch's jobs with their attempt history; `?state=failed` is the dead-letter view. */
submitRoutes.get("/batches/:id/jobs", async (c) => {
  const { queue } = batchRef(c.req.param("id"));
  const query = validate(JobsQuery, c.req.query());
  return c.json(unwrap(await queueStub(c.env, queue).jobs(queue, c.req.param("id"), query)));
});

/** Re-queues every failed job of the batch with a fresh attempt budget. */
submitRoutes.post("/batches/:id/retry", async (c) => {
  const { queue } = batchRef(c.req.param("id"));
  return c.json(unwrap(await queueStub(c.env, queue).retry({ batchId: c.req.param("id") })));
});

submitRoutes.delete("/batches/:id", async (c) => {
  const { queue } = batchRef(c.req.param("id"));
  return c.json(unwrap(await queueStub(c.env, queue).cancel({ batchId: c.req.param("id") })));
});

/** One queue at a glance, for the dashboard. */
submitRoutes.get("/queues/:queue/overview", async (c) => {
  const queue = c.req.param("queue");
  if (!QUEUE_NAME_RE.test(queue)) throw new ApiError(404, "not_found", `no queue ${queue}`);
  return c.json(await queueStub(c.env, queue).overview(queue));
});

/** Enrolled agents, newest first. */
submitRoutes.get("/agents", async (c) => c.json({ agents: await agentRegistry(c.env).list() }));

/** Revokes an agent: its calls get 401 from now on and its leases go back to their queues. */
submitRoutes.delete("/agents/:id", async (c) => {
  const agentId = c.req.param("id");
  const queues = await agentRegistry(c.env).revoke(agentId);
  if (!queues) throw new ApiError(404, "not_found", `no agent ${agentId}`);
  let released = 0;
  for (const queue of queues) released += await queueStub(c.env, queue).evictAgent(agentId);
  return c.json({ revoked: agentId, released });
});
