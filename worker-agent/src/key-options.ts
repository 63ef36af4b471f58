// Reading the Ed25519 public keys a flag names (--public-key, --trust-submitter):
// a bare base64url `x`, several of them comma-separated, a JWK or JWKS as
// JSON text, or the path of a file holding any of those. Several keys are
// how rotation works: pin the next key before it signs, keep the old one
// while its envelopes are in flight.

import { readFile } from "node:fs/promises";
import { parsePublicKeys, type PublicJwk } from "../../src/protocol/client.js";
import { AgentError } from "./errors.js";

const INLINE_XS = /^\s*[A-Za-z0-9_-]{43}(?:\s*,\s*[A-Za-z0-9_-]{43})*\s*,?\s*$/;

async function keysFrom(value: string, flag: string, code: string): Promise<PublicJwk[]> {
  const trimmed = value.trim();
  let text = trimmed;
  if (!trimmed.startsWith("{") && !INLINE_XS.test(trimmed)) {
    try {
      text = await readFile(trimmed, "utf8");
    } catch {
      throw new AgentError(code, `--${flag} is neither a base64url key (or several, comma-separated), a JWK, nor a readable file`);
    }
  }
  try {
    return await parsePublicKeys(text);
  } catch (err) {
    throw new AgentError(code, `--${flag} is not a usable Ed25519 public key (${(err as Error).message})`);
  }
}

/** Every key the values name, without duplicates (by kid), in order. Throws AgentError `code` if any is unusable or none is given. */
export async function readPublicKeys(values: string[], flag: string, code: string): Promise<PublicJwk[]> {
  const keys = new Map<string, PublicJwk>();
  for (const value of values) for (const key of await keysFrom(value, flag, code)) if (!keys.has(key.kid)) keys.set(key.kid, key);
  if (keys.size === 0) throw new AgentError(code, `--${flag} holds no keys`);
  return [...keys.values()];
}
