#!/usr/bin/env node
// `npm start`: a local coordinator (wrangler dev on 127.0.0.1:8787, state
// kept in .wrangler/state) plus one local agent. Ctrl-C stops both.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ensureDevVars, publicKeyOf } from "./dev-secrets.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const HOST = "127.0.0.1";
const PORT = Number(process.env.PORT ?? 8787);
const url = `http://${HOST}:${PORT}`;

const { vars, created } = ensureDevVars(`${root}.dev.vars`);
if (created) console.log("Generated .dev.vars with new SUBMIT_TOKEN, AGENT_TOKEN and SIGNING_KEY.");
const publicKey = publicKeyOf(vars.SIGNING_KEY);

const quietEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
const children = [];
let stopping = false;

function run(name, command, args, env) {
  const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
  children.push(child);
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping.`);
      stop(1);
    }
  });
  return child;
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGINT");
  const force = setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  }, 10_000);
  force.unref();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on("exit", r)) : null))).then(() =>
    process.exit(code),
  );
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

async function waitForCoordinator(deadline) {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/v1/keys`)).ok) return true;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

run("wrangler dev", process.execPath, [
  `${root}node_modules/wrangler/bin/wrangler.js`, "dev",
  "--ip", HOST, "--port", String(PORT),
  "--persist-to", ".wrangler/state",
  "--show-interactive-dev-session=false",
  "--log-level", "warn",
], quietEnv);

if (!(await waitForCoordinator(Date.now() + 60_000))) {
  console.error(`The coordinator did not answer on ${url} within 60 s.`);
  stop(1);
} else {
  const { SUBMIT_TOKEN, AGENT_TOKEN, ...agentEnv } = quietEnv;
  run("dist-agent", process.execPath, [
    `${root}worker-agent/dist/cli.js`, "--url", url, `--public-key=${publicKey}`, "--name", "local",
  ], { ...agentEnv, DIST_AGENT_TOKEN: vars.AGENT_TOKEN });

  console.log(`
dist is running: coordinator ${url}, one local agent.

Submit a job (the token stays in .dev.vars; these lines read it from there):

  SUBMIT_TOKEN=$(sed -n 's/^SUBMIT_TOKEN="\\(.*\\)"$/\\1/p' .dev.vars)
  curl -s -X POST ${url}/v1/jobs -H "Authorization: Bearer $SUBMIT_TOKEN" -H 'Content-Type: application/json' \\
    -d '{"fn":"(s) => s.toUpperCase()","inputs":["good","news","everyone"]}'

Read its results in completion order (put the batchId from above in BATCH):

  curl -s "${url}/v1/batches/$BATCH/results?after=0&wait=10" -H "Authorization: Bearer $SUBMIT_TOKEN"

Run another agent, on this or another machine (AGENT_TOKEN is in .dev.vars):

  npx dist-agent --url ${url} --token "$AGENT_TOKEN" --public-key=${publicKey}

Ctrl-C stops the coordinator and the agent.
`);
}
