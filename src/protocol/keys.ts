// Ed25519 keys: the coordinator's signing key (PKCS8, base64) and the public
// keys agents pin. A key id (kid) is derived from the public key itself, so
// the same key always has the same id on every side.

import { fromBase64Url, toBase64Url, utf8 } from "./encoding.js";
import type { PublicJwk } from "./types.js";

const ED25519 = { name: "Ed25519" } as const;

export interface SigningKey {
  privateKey: CryptoKey;
  jwk: PublicJwk;
}

export interface VerifyKey {
  kid: string;
  key: CryptoKey;
  /**
   * The same key's check done synchronously by the platform, when it offers
   * one (the agent: node:crypto, ~0.12 ms for an envelope against
   * WebCrypto's ~0.2 ms, or ~0.3–0.45 ms after idle: a thread-pool hop);
   * WebCrypto otherwise.
   */
  verifySync?: (message: Uint8Array, sig: Uint8Array) => boolean;
}

/** kid = first 16 base64url characters of sha256(raw public key). */
export async function kidOf(x: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", fromBase64Url(x)));
  return toBase64Url(digest).slice(0, 16);
}

/** Imports a PKCS8 Ed25519 private key given as base64 (the SIGNING_KEY secret). */
export async function importSigningKey(pkcs8Base64: string): Promise<SigningKey> {
  const der = fromBase64Url(pkcs8Base64.trim());
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ED25519, true, ["sign"]);
  const { x } = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
  if (!x) throw new Error("SIGNING_KEY is not an Ed25519 private key");
  return { privateKey, jwk: { kty: "OKP", crv: "Ed25519", x, kid: await kidOf(x), alg: "EdDSA", use: "sig" } };
}

/**
 * Imports the SIGNING_KEY secret: one or more comma-separated keys. The first
 * signs; all are published, so agents can pin the next key before it is used
 * and keep the previous one while envelopes signed by it are in flight.
 */
export async function importSigningKeys(secret: string): Promise<SigningKey[]> {
  const parts = secret.split(",").map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error("SIGNING_KEY is empty");
  return Promise.all(parts.map(importSigningKey));
}

/** Makes a new key pair: the private half as base64 PKCS8, the public half as a JWK. */
export async function generateSigningKey(): Promise<{ pkcs8Base64: string; jwk: PublicJwk }> {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer);
  const pkcs8Base64 = btoa(String.fromCharCode(...pkcs8));
  return { pkcs8Base64, jwk: (await importSigningKey(pkcs8Base64)).jwk };
}

export async function sign(key: SigningKey, message: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign(ED25519, key.privateKey, utf8(message))));
}

/**
 * Parses what an agent is told to pin: a bare `x` value, a JWK, or a JWKS
 * (as JSON text). Returns the keys with their derived kids; a kid written in
 * the input is ignored, since it is not bound to the key.
 */
export async function parsePublicKeys(text: string): Promise<PublicJwk[]> {
  const trimmed = text.trim();
  let xs: string[];
  if (trimmed.startsWith("{")) {
    const parsed = JSON.parse(trimmed) as { keys?: unknown[]; x?: unknown };
    const list = Array.isArray(parsed.keys) ? parsed.keys : [parsed];
    xs = list.map((k) => {
      const jwk = k as { kty?: unknown; crv?: unknown; x?: unknown };
      if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
        throw new Error("public key JWK must have kty OKP, crv Ed25519 and x");
      }
      return jwk.x;
    });
  } else {
    // One or more bare `x` values, separated by commas or white space (key rotation).
    xs = trimmed.split(/[\s,]+/).filter(Boolean);
  }
  return Promise.all(
    xs.map(async (x) => {
      if (fromBase64Url(x).length !== 32) throw new Error("an Ed25519 public key is 32 bytes (43 base64url characters)");
      return { kty: "OKP", crv: "Ed25519", x, kid: await kidOf(x) } satisfies PublicJwk;
    }),
  );
}

export async function importVerifyKeys(jwks: PublicJwk[]): Promise<VerifyKey[]> {
  return Promise.all(
    jwks.map(async (jwk) => ({
      kid: jwk.kid,
      key: await crypto.subtle.importKey("raw", fromBase64Url(jwk.x), ED25519, false, ["verify"]),
    })),
  );
}

/** A signature's 64 bytes, or null if `sig` is not base64url of 64 bytes. */
function signatureBytes(sig: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bytes = fromBase64Url(sig);
    return bytes.length === 64 ? bytes : null;
  } catch {
    return null;
  }
}

export async function verify(key: CryptoKey, message: string, sig: string): Promise<boolean> {
  const sigBytes = signatureBytes(sig);
  return sigBytes !== null && crypto.subtle.verify(ED25519, key, sigBytes, utf8(message));
}

/** Checks `sig` over `message` with a pinned key: by its platform check when it has one. */
export async function verifyWith(key: VerifyKey, message: string, sig: string): Promise<boolean> {
  if (!key.verifySync) return verify(key.key, message, sig);
  const sigBytes = signatureBytes(sig);
  return sigBytes !== null && key.verifySync(utf8(message), sigBytes);
}
