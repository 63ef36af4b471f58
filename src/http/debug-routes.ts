// Fault injection for tests, off unless the coordinator runs with
// FAULT_INJECTION=1: restart a queue's Durable Object, losing its memory.

import { Hono } from "hono";
import { QUEUE_NAME_RE } from "../protocol/index.js";
import type { Env } from "../env.js";
import { requireRole } from "./auth.js";
import { ApiError } from "./errors.js";
import { queueStub } from "./stubs.js";

export const debugRoutes = new Hono<{ Bindings: Env }>();

debugRoutes.use(async function faultInjectionEnabled(c, next) {
  if (c.env.FAULT_INJECTION !== "1") throw new ApiError(404, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  await next();
});
debugRoutes.use(requireRole("submit"));

debugRoutes.post("/reset/:queue", async (c) => {
  const queue = c.req.param("queue");
  if (!QUEUE_NAME_RE.test(queue)) throw new ApiError(404, "not_found", `no queue ${queue}`);
  await queueStub(c.env, queue).reset();
  return c.json({ reset: queue }, 202);
});
