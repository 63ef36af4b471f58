// Routes that need no token: the landing document and the public keys.

import { Hono } from "hono";
import { importSigningKeys, type PublicJwk } from "../protocol/index.js";
import type { Env } from "../env.js";
import { DASHBOARD_HTML } from "./dashboard/page.js";
import { DASHBOARD_JS } from "./dashboard/script.js";
import { ApiError } from "./errors.js";

export const publicRoutes = new Hono<{ Bindings: Env }>();

let cached: { secret: string; jwks: Promise<PublicJwk[]> } | undefined;

/** The public halves of every configured signing key, current first. */
function publicJwks(env: Env): Promise<PublicJwk[]> {
  if (!env.SIGNING_KEY) throw new ApiError(503, "not_configured", "the coordinator has no SIGNING_KEY set");
  if (cached?.secret !== env.SIGNING_KEY) {
    cached = { secret: env.SIGNING_KEY, jwks: importSigningKeys(env.SIGNING_KEY).then((keys) => keys.map((k) => k.jwk)) };
  }
  return cached.jwks;
}

const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The dashboard for browsers; a short JSON description for everyone else. */
publicRoutes.get("/", (c) => {
  if (!(c.req.header("accept") ?? "").includes("text/html")) {
    return c.json({ service: "dist coordinator", api: "/v1", keys: "/v1/keys", openapi: "/v1/openapi.json" });
  }
  c.header("content-security-policy", DASHBOARD_CSP);
  c.header("referrer-policy", "no-referrer");
  return c.html(DASHBOARD_HTML);
});

publicRoutes.get("/dashboard.js", (c) => {
  c.header("content-type", "text/javascript; charset=utf-8");
  c.header("cache-control", "no-cache");
  return c.body(DASHBOARD_JS);
});

publicRoutes.get("/v1/keys", async (c) => c.json({ keys: await publicJwks(c.env) }));
