#!/usr/bin/env node
// The coordinator as a process of its own, for fault-injection tests that
// kill it outright: bundles src/index.ts with esbuild, runs it under Miniflare
// (which starts workerd as a child in this process group) with Durable Object
// state persisted in a directory, and prints `listening <url>` on stdout.
// Killing the whole process group with SIGKILL is a hard crash of the
// coordinator; starting this script again on the same directory and port
// brings it back on the same persisted state.
//
// Environment (read only here):
//   DIST_COORD_PORT     port on 127.0.0.1 (required, so a restart can reuse it)
//   DIST_COORD_PERSIST  directory for Durable Object state (required)
//   SUBMIT_TOKEN, AGENT_TOKEN, SIGNING_KEY   the coordinator's secrets
//   DIST_COORD_VARS     optional JSON object of extra bindings (e.g. {"FAULT_INJECTION":"1"})
//
// It exits when SIGTERM/SIGINT arrives or when its stdin closes, so a parent
// that dies without cleaning up does not leave a coordinator behind.

import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bundleWorker, wranglerConfig } from "./worker-build.mjs";
import { Miniflare } from "miniflare";

const root = fileURLToPath(new URL("../", import.meta.url));

function config(env) {
  const port = Number(env.DIST_COORD_PORT);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error("DIST_COORD_PORT must be a port number");
  if (!env.DIST_COORD_PERSIST) throw new Error("DIST_COORD_PERSIST must name a directory");
  for (const name of ["SUBMIT_TOKEN", "AGENT_TOKEN", "SIGNING_KEY"]) {
    if (!env[name]) throw new Error(`${name} is required`);
  }
  const vars = env.DIST_COORD_VARS ? JSON.parse(env.DIST_COORD_VARS) : {};
  return {
    port,
    persistDir: env.DIST_COORD_PERSIST,
    bindings: { SUBMIT_TOKEN: env.SUBMIT_TOKEN, AGENT_TOKEN: env.AGENT_TOKEN, SIGNING_KEY: env.SIGNING_KEY, ...vars },
  };
}

async function main() {
  const { port, persistDir, bindings } = config(process.env);
  const { durableObjects, compatibilityDate } = wranglerConfig();
  mkdirSync(persistDir, { recursive: true });
  const mf = new Miniflare({
    modules: [{ type: "ESModule", path: `${root}.build/coordinator-process.mjs`, contents: await bundleWorker() }],
    compatibilityDate,
    host: "127.0.0.1",
    port,
    cf: false,
    durableObjects,
    durableObjectsPersist: persistDir,
    bindings,
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await mf.dispose().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
  process.stdout.write(`listening ${url}\n`);
}

main().catch((err) => {
  process.stderr.write(`coordinator-process: ${err?.stack ?? err}\n`);
  process.exit(1);
});
