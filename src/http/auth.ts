// Bearer-token auth by role. Each secret may hold several comma-separated
// tokens (rotation). Tokens are compared by their SHA-256 digests, byte by
// byte without early exit, so neither content nor length leaks through timing.

import type { MiddlewareHandler } from "hono";
import { utf8 } from "../protocol/index.js";
import type { Env } from "../env.js";
import { ApiError } from "./errors.js";

export type Role = "submit" | "agent";

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text)));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i] ?? 0);
  return diff === 0;
}

export function tokensOf(secret: string | undefined): string[] {
  return (secret ?? "").split(",").map((t) => t.trim()).filter(Boolean);
}

async function matchesAny(candidate: Uint8Array, secret: string | undefined): Promise<boolean> {
  let found = false;
  for (const token of tokensOf(secret)) found = equalBytes(candidate, await digest(token)) || found;
  return found;
}

/** Which role a bearer token carries, or null for none. */
export async function roleOf(token: string, env: Env): Promise<Role | null> {
  const candidate = await digest(token);
  if (await matchesAny(candidate, env.SUBMIT_TOKEN)) return "submit";
  if (await matchesAny(candidate, env.AGENT_TOKEN)) return "agent";
  return null;
}

export function requireRole(role: Role): MiddlewareHandler<{ Bindings: Env }> {
  return async function requireRoleMiddleware(c, next) {
    const secret = role === "submit" ? c.env.SUBMIT_TOKEN : c.env.AGENT_TOKEN;
    if (tokensOf(secret).length === 0) {
      throw new ApiError(503, "not_configured", `the coordinator has no ${role === "submit" ? "SUBMIT_TOKEN" : "AGENT_TOKEN"} set`);
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    if (!match) throw new ApiError(401, "unauthorized", "send Authorization: Bearer <token>");
    const held = await roleOf(match[1]!, c.env);
    if (held === null) throw new ApiError(401, "unauthorized", "the token is not valid");
    if (held !== role) throw new ApiError(403, "forbidden", `this route needs the ${role} token`);
    await next();
  };
}
