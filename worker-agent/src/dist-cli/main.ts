#!/usr/bin/env node
// `dist`: the submitter's command line. submit (with --watch), watch, status,
// cancel, and keys/sign for signing keys. The only process.exit of this bin.

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { keysCommand, KEYS_USAGE } from "../cmd-keys.js";
import { signCommand, SIGN_USAGE } from "../cmd-sign.js";
import { ApiError, createApi } from "./api.js";
import { watchBatch } from "./watch.js";

const USAGE = `Usage: dist <command> [options]

Commands:
  submit --fn <file.js> (--inputs <file.json> | --input <json>) [--watch]
                     submit a batch: one job per input. --watch shows a progress bar on
                     stderr and writes each result as NDJSON on stdout, in completion order.
         [--queue q] [--priority n] [--timeout-ms n] [--max-attempts n]
  watch <batchId>    follow a batch: progress on stderr, results as NDJSON on stdout
  status <id>        a job (default.xxx.N) or a batch (default.xxx) as JSON
  cancel <id>        cancel a job or everything unfinished in a batch
  keys generate      make an Ed25519 key pair (see dist keys --help)
  sign               sign a batch with your own key for agents that --trust-submitter you

Every command takes (or reads from the environment):
  --url <url>        coordinator base URL                     DIST_URL
  --token <token>    submit token (prefer the env variable)   DIST_SUBMIT_TOKEN
  -h, --help         help for a command`;

const COMMON = {
  url: { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function fail(code: number, message: string): never {
  process.stderr.write(`dist: ${message}\n`);
  process.exit(code);
}

function connection(values: { url?: string; token?: string }) {
  const url = values.url ?? process.env.DIST_URL;
  const token = values.token ?? process.env.DIST_SUBMIT_TOKEN;
  if (!url) fail(2, "missing --url (or DIST_URL)");
  if (!token) fail(2, "missing --token (or DIST_SUBMIT_TOKEN)");
  if (!/^https?:\/\//.test(url)) fail(2, "--url must start with http:// or https://");
  return createApi(url, token);
}

const writeLine = (line: string): void => void process.stdout.write(line + "\n");

async function submit(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      fn: { type: "string" },
      inputs: { type: "string" },
      input: { type: "string" },
      queue: { type: "string" },
      priority: { type: "string" },
      "timeout-ms": { type: "string" },
      "max-attempts": { type: "string" },
      watch: { type: "boolean" },
    },
  });
  if (values.help) return void writeLine(USAGE);
  if (!values.fn) fail(2, "submit needs --fn <file.js>");
  if ((values.inputs === undefined) === (values.input === undefined)) fail(2, "submit needs --inputs <file.json> or --input <json>");
  const api = connection(values);
  const fn = await readFile(values.fn, "utf8").catch(() => fail(2, `cannot read ${values.fn}`));
  const parseJson = (text: string, what: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return fail(2, `${what} is not valid JSON`);
    }
  };
  const body: Record<string, unknown> = { fn };
  if (values.inputs !== undefined) {
    const inputs = parseJson(await readFile(values.inputs, "utf8").catch(() => fail(2, `cannot read ${values.inputs}`)), values.inputs);
    if (!Array.isArray(inputs)) fail(2, `${values.inputs} must hold a JSON array (one input per job)`);
    body.inputs = inputs;
  } else body.input = parseJson(values.input!, "--input");
  if (values.queue) body.queue = values.queue;
  for (const [flag, key] of [["priority", "priority"], ["timeout-ms", "timeoutMs"], ["max-attempts", "maxAttempts"]] as const) {
    const raw = values[flag];
    if (raw === undefined) continue;
    if (!/^-?\d+$/.test(raw)) fail(2, `--${flag} must be an integer`);
    body[key] = Number(raw);
  }
  const sub = await api.call<{ batchId: string; jobIds: string[] }>("POST", "/v1/jobs", body);
  process.stderr.write(`dist: submitted batch ${sub.batchId} (${sub.jobIds.length} jobs)\n`);
  if (!values.watch) return void writeLine(JSON.stringify(sub));
  const final = await watchBatch(api, sub.batchId, writeLine);
  if (final.failed > 0) process.exitCode = 1;
}

async function withId(argv: string[], run: (api: ReturnType<typeof createApi>, id: string) => Promise<void>): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: COMMON, allowPositionals: true });
  if (values.help || positionals.length !== 1) return void writeLine(USAGE);
  await run(connection(values), positionals[0]!);
}

/** A job id ends in `.<index>`; a batch id does not. */
const isJobId = (id: string) => /\.\d+$/.test(id);

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const io = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) };
  switch (command) {
    case "submit":
      return submit(rest);
    case "watch":
      return withId(rest, async (api, id) => {
        const final = await watchBatch(api, id, writeLine);
        if (final.failed > 0) process.exitCode = 1;
      });
    case "status":
      return withId(rest, async (api, id) => writeLine(JSON.stringify(await api.call("GET", isJobId(id) ? `/v1/jobs/${id}` : `/v1/batches/${id}`), null, 2)));
    case "cancel":
      return withId(rest, async (api, id) => writeLine(JSON.stringify(await api.call("DELETE", isJobId(id) ? `/v1/jobs/${id}` : `/v1/batches/${id}`))));
    case "keys":
      if (rest.includes("--help") || rest.includes("-h") || rest.length === 0) return void writeLine(KEYS_USAGE.replaceAll("dist-agent", "dist"));
      return keysCommand(rest, io);
    case "sign":
      if (rest.includes("--help") || rest.includes("-h")) return void writeLine(SIGN_USAGE.replaceAll("dist-agent", "dist"));
      return signCommand(rest, io);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      return void writeLine(USAGE);
    default:
      fail(2, `unknown command "${command}" (see dist --help)`);
  }
}

// `dist watch ... | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

main().catch((err: unknown) => {
  if (err instanceof ApiError) fail(err.status === 401 || err.status === 403 ? 2 : 1, `${err.code}: ${err.message}`);
  const e = err as { code?: string; message?: string };
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") fail(2, e.message ?? "bad option");
  if (typeof e.code === "string" && e.message) fail(2, `${e.code}: ${e.message}`);
  fail(1, e.message ?? String(err));
});
