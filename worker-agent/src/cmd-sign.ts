// `dist-agent sign`: signs a batch end to end. Each input gets the
// submitter's Ed25519 signature over "dist-job-v1\n" + fnHash + "\n" +
// JSON.stringify(input), so an agent that trusts this key (--trust-submitter)
// runs exactly this function on exactly these inputs. Prints the JSON body
// for POST /v1/jobs.

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { importSigningKey, LIMITS, QUEUE_NAME_RE, sha256Hex, signJob } from "../../src/protocol/client.js";
import type { CommandIo } from "./cmd-keys.js";
import { AgentError } from "./errors.js";

export const SIGN_USAGE = [
  "Usage: dist-agent sign --key <private key file> --fn <file.js> --inputs <inputs.json> [options]",
  "",
  "Prints the JSON body for POST /v1/jobs, { fn, inputs, signer, signatures, ... }, with one signature",
  "per input by the key in <private key file> (from `dist-agent keys generate`). Agents started with",
  "--trust-submitter <that key's x> run these jobs and refuse unsigned ones or others'.",
  "",
  "  --key <file>          the submitter's private key (PKCS8, base64)",
  "  --fn <file.js>        the function: an expression or arrow, or a module with a default export",
  "  --inputs <file.json>  a JSON array, one job per element",
  "  --queue <name>        queue (default: the coordinator's default)",
  "  --timeout-ms <ms>     per-job time limit",
  "  --grace-ms <ms>       added to the time limit to form the lease",
  "  --max-attempts <n>    attempts per job",
  "  --priority <n>        higher runs first",
  "  -h, --help            print this help",
  "",
  "Example: dist-agent sign --key me.key --fn square.js --inputs nums.json |",
  "         curl -s -X POST $URL/v1/jobs -H \"Authorization: Bearer $SUBMIT_TOKEN\" -H 'Content-Type: application/json' -d @-",
].join("\n");

const NUMBERS = { "timeout-ms": "timeoutMs", "grace-ms": "graceMs", "max-attempts": "maxAttempts", priority: "priority" } as const;

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new AgentError("bad_option", `--${flag}: cannot read ${path} (${String((err as { code?: unknown }).code ?? err)})`);
  }
}

export async function signCommand(argv: string[], io: CommandIo): Promise<void> {
  const str = { type: "string" as const };
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { key: str, fn: str, inputs: str, queue: str, "timeout-ms": str, "grace-ms": str, "max-attempts": str, priority: str, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new AgentError("bad_option", `${(err as Error).message.replace(/\s+/g, " ")}; see dist-agent sign --help`);
  }
  if (values.help) return io.out(SIGN_USAGE + "\n");
  for (const flag of ["key", "fn", "inputs"] as const) {
    if (values[flag] === undefined) throw new AgentError("missing_option", `--${flag} is required; see dist-agent sign --help`);
  }

  let key;
  try {
    key = await importSigningKey((await readText(values.key!, "key")).trim());
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError("bad_key", "--key does not hold an Ed25519 private key (PKCS8, base64) such as `dist-agent keys generate` makes");
  }
  const fn = await readText(values.fn!, "fn");
  if (fn.trim() === "" || Buffer.byteLength(fn) > LIMITS.maxSourceBytes) throw new AgentError("bad_option", `--fn must hold 1 to ${LIMITS.maxSourceBytes} bytes`);
  let inputs: unknown;
  try {
    inputs = JSON.parse(await readText(values.inputs!, "inputs"));
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError("bad_option", "--inputs is not JSON");
  }
  if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > LIMITS.maxBatchSize) {
    throw new AgentError("bad_option", `--inputs must hold a JSON array of 1 to ${LIMITS.maxBatchSize} inputs`);
  }
  const options: Record<string, string | number> = {};
  if (values.queue !== undefined) {
    if (!QUEUE_NAME_RE.test(values.queue)) throw new AgentError("bad_option", `--queue must match ${QUEUE_NAME_RE.source}`);
    options.queue = values.queue;
  }
  for (const [flag, field] of Object.entries(NUMBERS)) {
    const text = values[flag as keyof typeof NUMBERS];
    if (text === undefined) continue;
    if (!/^-?\d+$/.test(text)) throw new AgentError("bad_option", `--${flag} must be a whole number`);
    options[field] = Number(text);
  }

  const fnHash = await sha256Hex(fn);
  const signatures = await Promise.all(inputs.map((input) => signJob(key.privateKey, fnHash, input)));
  io.out(JSON.stringify({ fn, inputs, signer: key.jwk.x, signatures, ...options }) + "\n");
}
