// Routes that need no token: the landing document and the public keys.

import { Hono } from "hono";
import { importSigningKeys, type PublicJwk } from "../protocol/index.js";
import type { Env } from "../env.js";
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

publicRoutes.get("/", (c) =>
  c.json({
    service: "dist coordinator",
    api: "/v1",
    keys: "/v1/keys",
  }),
);

publicRoutes.get("/v1/keys", async (c) => c.json({ keys: await publicJwks(c.env) }));
