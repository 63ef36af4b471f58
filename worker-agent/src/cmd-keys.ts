// `dist-agent keys generate [--out <file>]`: makes an Ed25519 key pair. The
// private half (PKCS8, base64) is what the coordinator takes as SIGNING_KEY
// and what a submitter gives `dist-agent sign --key`; the public half (`x`)
// is what agents pin (--public-key) or trust (--trust-submitter).

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { generateSigningKey } from "../../src/protocol/client.js";
import { AgentError } from "./errors.js";

export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const KEYS_USAGE = [
  "Usage: dist-agent keys generate [--out <file>]",
  "",
  "Makes an Ed25519 key pair.",
  "  The private key (PKCS8 DER, base64) is a coordinator's SIGNING_KEY or a submitter's key for",
  "  `dist-agent sign --key`. Without --out it is printed alone on stdout; with --out it is written",
  "  to <file> with mode 0600 (an existing file is not overwritten).",
  "  The public key (x, base64url) is printed labelled: agents pin a coordinator's with --public-key",
  "  and trust a submitter's with --trust-submitter.",
  "",
  "  --out <file>   write the private key to <file>",
  "  -h, --help     print this help",
].join("\n");

export async function keysCommand(argv: string[], io: CommandIo): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { out: { type: "string" }, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new AgentError("bad_option", `${(err as Error).message.replace(/\s+/g, " ")}; see dist-agent keys --help`);
  }
  const { values, positionals } = parsed;
  if (values.help) return io.out(KEYS_USAGE + "\n");
  if (positionals.length !== 1 || positionals[0] !== "generate") throw new AgentError("bad_option", "expected `dist-agent keys generate`; see dist-agent keys --help");

  const { pkcs8Base64, jwk } = await generateSigningKey();
  if (values.out === undefined) {
    io.out(pkcs8Base64 + "\n");
    io.err(`public key (x): ${jwk.x}\n`);
    return;
  }
  try {
    await writeFile(values.out, pkcs8Base64 + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new AgentError("bad_option", code === "EEXIST" ? `${values.out} exists; not overwriting a key` : `cannot write ${values.out} (${String(code ?? err)})`);
  }
  io.out(`public key (x): ${jwk.x}\n`);
  io.err(`private key written to ${values.out} (mode 0600)\n`);
}
