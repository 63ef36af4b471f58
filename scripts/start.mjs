#!/usr/bin/env node
// `npm start`: a local coordinator (wrangler dev on 127.0.0.1:8787, state
// kept in .wrangler/state) plus one local agent. Ctrl-C stops both, the
// agent first.

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
let stopping = false;

// Each child runs in a process group of its own, so a Ctrl-C reaches this
// script alone and it stops them in order: the agent first, while the
// coordinator still answers (it hands back the tasks it holds), then the
// coordinator. Signalled together, the agent spent seconds retrying a
// coordinator that was already gone.
function run(name, command, args, env) {
  const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "inherit", "inherit"], detached: true });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping.`);
      stop(1);
    }
  });
  return child;
}

const alive = (child) => child && child.exitCode === null && child.signalCode === null;

/** Signals a child's whole group (wrangler's workerd too); false when it is gone already. */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGINT (to the child alone, or to its whole group), SIGKILL to the group
 * after `ms`; resolves when the child has exited. The agent is signalled
 * alone: it stops its sandbox processes itself, after their tasks' grace.
 */
function stopChild(child, ms, { group }) {
  if (!alive(child)) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  if (group) signalGroup(child, "SIGINT");
  else child.kill("SIGINT");
  const force = setTimeout(() => signalGroup(child, "SIGKILL"), ms);
  return exited.finally(() => clearTimeout(force));
}

let coordinator = null;
let agent = null;

async function stop(code = 0, { quiet = false } = {}) {
  if (stopping) return;
  stopping = true;
  if (alive(agent) && !quiet) console.log("\nStopping: the agent hands back its tasks first (at most 10 s; Ctrl-C again to stop at once).");
  await stopChild(agent, 10_000, { group: false });
  await stopChild(coordinator, 10_000, { group: true });
  process.exit(code);
}
// A second Ctrl-C hurries the agent: its own second signal makes it exit at once.
const onSignal = () => (stopping ? alive(agent) && agent.kill("SIGINT") : void stop(0));
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
// The terminal closed: its hangup reaches this script only (the children have groups of
// their own), and nothing is left to print to.
process.on("SIGHUP", () => void stop(0, { quiet: true }));
// However this script ends, its children do not outlive it.
process.on("exit", () => {
  for (const child of [agent, coordinator]) if (alive(child)) signalGroup(child, "SIGKILL");
});

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

coordinator = run("wrangler dev", process.execPath, [
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
  agent = run("dist-agent", process.execPath, [
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
