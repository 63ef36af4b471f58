// The coordinator Worker: routes in, queue objects behind.

import { Hono } from "hono";
import type { Env } from "./env.js";
import { agentRoutes } from "./http/agent-routes.js";
import { debugRoutes } from "./http/debug-routes.js";
import { notFound, onError } from "./http/errors.js";
import { openApiRoutes } from "./http/openapi.js";
import { publicRoutes } from "./http/public-routes.js";
import { submitRoutes } from "./http/submit-routes.js";

const app = new Hono<{ Bindings: Env }>();
app.route("/", publicRoutes);
app.route("/", openApiRoutes);
app.route("/v1/agent", agentRoutes);
app.route("/v1/debug", debugRoutes);
app.route("/v1", submitRoutes);
app.notFound(notFound);
app.onError(onError);

export { app };
export default app;
export { QueueObject } from "./queue/queue-object.js";
export { FunctionRegistry } from "./queue/function-registry.js";
export { AgentRegistry } from "./queue/agent-registry.js";
