// Local development secrets: .dev.vars holds SUBMIT_TOKEN, AGENT_TOKEN and an
// Ed25519 SIGNING_KEY. Generated on first run, never printed, never committed.

import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export function parseVars(text) {
  const vars = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

/** Reads .dev.vars, creating it with fresh secrets if it is missing. Returns the vars and whether it was created. */
export function ensureDevVars(path) {
  if (existsSync(path)) {
    const vars = parseVars(readFileSync(path, "utf8"));
    for (const name of ["SUBMIT_TOKEN", "AGENT_TOKEN", "SIGNING_KEY"]) {
      if (!vars[name]) throw new Error(`${path} has no ${name}; delete the file to have a new one generated`);
    }
    return { vars, created: false };
  }
  const { privateKey } = generateKeyPairSync("ed25519");
  const vars = {
    SUBMIT_TOKEN: `dist_sub_${randomBytes(24).toString("base64url")}`,
    AGENT_TOKEN: `dist_agt_${randomBytes(24).toString("base64url")}`,
    SIGNING_KEY: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
  };
  const text =
    "# Local secrets for `npm start` (wrangler dev reads this file). Generated; do not commit.\n" +
    Object.entries(vars).map(([k, v]) => `${k}="${v}"`).join("\n") + "\n";
  writeFileSync(path, text, { mode: 0o600 });
  return { vars, created: true };
}

/** The public key (`x`, base64url) that agents pin, from a PKCS8 base64 private key. */
export function publicKeyOf(signingKey) {
  const key = createPrivateKey({ key: Buffer.from(signingKey, "base64"), format: "der", type: "pkcs8" });
  return createPublicKey(key).export({ format: "jwk" }).x;
}
