// Routes that need no token: the landing document and the public keys.

import { Hono } from "hono";
import { importSigningKey, type PublicJwk } from "../protocol/index.js";
import type { Env } from "../env.js";
import { ApiError } from "./errors.js";

export const publicRoutes = new Hono<{ Bindings: Env }>();

let cachedKey: { secret: string; jwk: Promise<PublicJwk> } | undefined;

function publicJwk(env: Env): Promise<PublicJwk> {
  if (!env.SIGNING_KEY) throw new ApiError(503, "not_configured", "the coordinator has no SIGNING_KEY set");
  if (cachedKey?.secret !== env.SIGNING_KEY) {
    cachedKey = { secret: env.SIGNING_KEY, jwk: importSigningKey(env.SIGNING_KEY).then((k) => k.jwk) };
  }
  return cachedKey.jwk;
}

publicRoutes.get("/", (c) =>
  c.json({
    service: "dist coordinator",
    api: "/v1",
    keys: "/v1/keys",
  }),
);

publicRoutes.get("/v1/keys", async (c) => c.json({ keys: [await publicJwk(c.env)] }));
