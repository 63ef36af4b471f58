// End-to-end job signatures. A submitter signs each job with their own
// Ed25519 key; an agent that trusts that key runs the job only if the
// signature holds, so even a compromised coordinator cannot make it run code.
// The message binds the function (by hash) to one input, in the same JSON
// form on both sides: JSON.stringify of the parsed value.

import { fromBase64Url, toBase64Url, utf8 } from "./encoding.js";
import { verify } from "./keys.js";

export const JOB_SIGNATURE_DOMAIN = "dist-job-v1\n";

export function jobMessage(fnHash: string, input: unknown): string {
  return `${JOB_SIGNATURE_DOMAIN}${fnHash}\n${JSON.stringify(input ?? null)}`;
}

export async function signJob(privateKey: CryptoKey, fnHash: string, input: unknown): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, utf8(jobMessage(fnHash, input)))));
}

/** Imports a submitter's public key given as its base64url `x`; null if it is not a key. */
export async function importSignerKey(x: string): Promise<CryptoKey | null> {
  try {
    const raw = fromBase64Url(x);
    if (raw.length !== 32) return null;
    return await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return null;
  }
}

export function verifyJob(key: CryptoKey, sig: string, fnHash: string, input: unknown): Promise<boolean> {
  return verify(key, jobMessage(fnHash, input), sig);
}
