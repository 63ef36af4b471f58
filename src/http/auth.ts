// Bearer-token auth by role. Each secret may hold several comma-separated
// tokens (rotation). Tokens are compared by their SHA-256 digests, byte by
// byte without early exit, so neither content nor length leaks through timing.

import type { MiddlewareHandler } from "hono";
import { toHex, utf8 } from "../protocol/index.js";
import type { Env } from "../env.js";
import { agentRegistry, CREDENTIAL_PREFIX } from "../queue/agent-registry.js";
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

/** Digests of the configured tokens, per secret value (secrets change only with a new deployment). */
const secretDigests = new Map<string, Promise<Uint8Array[]>>();

async function matchesAny(candidate: Uint8Array, secret: string | undefined): Promise<boolean> {
  if (!secret) return false;
  let digests = secretDigests.get(secret);
  if (!digests) {
    if (secretDigests.size > 16) secretDigests.clear();
    secretDigests.set(secret, (digests = Promise.all(tokensOf(secret).map(digest))));
  }
  let found = false;
  for (const known of await digests) found = equalBytes(candidate, known) || found;
  return found;
}

/** Which role a bearer token carries, or null for none. */
export async function roleOf(token: string, env: Env): Promise<Role | null> {
  const candidate = await digest(token);
  if (await matchesAny(candidate, env.SUBMIT_TOKEN)) return "submit";
  if (await matchesAny(candidate, env.AGENT_TOKEN)) return "agent";
  return null;
}

/** A live agent credential holds the agent role (a revoked one holds none). */
async function agentCredentialRole(token: string, env: Env): Promise<Role | null> {
  if (!token.startsWith(CREDENTIAL_PREFIX)) return null;
  const agent = await agentRegistry(env).authenticate(toHex(await digest(token)));
  return agent && !agent.revoked ? "agent" : null;
}

function bearer(header: string | undefined): string {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? "");
  if (!match) throw new ApiError(401, "unauthorized", "send Authorization: Bearer <token>");
  return match[1]!;
}

export function requireRole(role: Role): MiddlewareHandler<{ Bindings: Env }> {
  return async function requireRoleMiddleware(c, next) {
    const secret = role === "submit" ? c.env.SUBMIT_TOKEN : c.env.AGENT_TOKEN;
    if (tokensOf(secret).length === 0) {
      throw new ApiError(503, "not_configured", `the coordinator has no ${role === "submit" ? "SUBMIT_TOKEN" : "AGENT_TOKEN"} set`);
    }
    const token = bearer(c.req.header("authorization"));
    const held = (await roleOf(token, c.env)) ?? (await agentCredentialRole(token, c.env));
    if (held === null) throw new ApiError(401, "unauthorized", "the token is not valid");
    if (held !== role) throw new ApiError(403, "forbidden", `this route needs the ${role} token`);
    // The shared agent token only enrolls; an agent's own credential cannot mint more identities.
    if (role === "agent" && token.startsWith(CREDENTIAL_PREFIX)) throw new ApiError(403, "forbidden", "enroll with the shared agent token");
    await next();
  };
}

/**
 * Agent routes past enrollment: the agent's own credential, and X-Agent-Id
 * naming the agent it was issued to. The shared agent token only enrolls.
 */
export function requireAgent(): MiddlewareHandler<{ Bindings: Env; Variables: { agentId: string } }> {
  return async function requireAgentMiddleware(c, next) {
    const token = bearer(c.req.header("authorization"));
    if (!token.startsWith(CREDENTIAL_PREFIX)) {
      const held = await roleOf(token, c.env);
      if (held === "agent") throw new ApiError(401, "enroll_required", "enroll with POST /v1/agent/enroll and use the credential it returns");
      if (held === "submit") throw new ApiError(403, "forbidden", "this route needs an agent credential");
      throw new ApiError(401, "unauthorized", "the token is not valid");
    }
    const hash = toHex(await digest(token));
    const agent = await agentRegistry(c.env).authenticate(hash);
    if (!agent) throw new ApiError(401, "unauthorized", "the credential is not valid");
    if (agent.revoked) throw new ApiError(401, "revoked", "this agent was revoked");
    if (c.req.header("x-agent-id") !== agent.agentId) {
      throw new ApiError(401, "unauthorized", "X-Agent-Id does not match the credential");
    }
    c.set("agentId", agent.agentId);
    await next();
  };
}
