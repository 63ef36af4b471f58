// The dist coordinator as a bench process: src/index.ts behind the counting
// wrapper (counting-entry.mjs), bundled with esbuild and run by Miniflare
// (one workerd child) on 127.0.0.1, Durable Objects in memory. Its Durable
// Object bindings and compatibility date come from wrangler.toml, as in
// scripts/coordinator-process.mjs. Started with fork(): it sends
// { url } when listening and exits when the parent disconnects or on SIGTERM.
//
// Environment: SUBMIT_TOKEN, AGENT_TOKEN, SIGNING_KEY; BENCH_COORD_VARS
// (JSON of extra bindings, e.g. AGENT_POLL_RATE).
//
// CPU profile of workerd: BENCH_WORKERD_PROFILE=/some/dir (passed on by
// startCoordinator in config.mjs) runs workerd with its inspector on a free
// 127.0.0.1 port and starts V8's sampling profiler (profile.mjs) in every
// workerd isolate before the coordinator reports { url }, so the profile
// covers the coordinator's whole life: start, warm-up, RTT samples and the
// measured run. On SIGTERM/disconnect it is stopped and written, one file per
// isolate, before workerd is disposed:
//   <dir>/workerd-<ms>-<pid>-core_user.cpuprofile    the coordinator Worker and its Durable Objects
//   <dir>/workerd-<ms>-<pid>-core_entry.cpuprofile   Miniflare's entry Worker (every request passes it)
//   (and Miniflare's idle helper Workers), plus <dir>/workerd-<ms>-<pid>.bundle.mjs:
// the bundle the profiles' line numbers refer to (prof-summary.mjs maps them
// to src/ files through esbuild's `// src/…` section comments).
// BENCH_WORKERD_PROFILE_INTERVAL: sampling interval in µs (default 100);
// BENCH_WORKERD_PROFILE_TARGETS: a regexp of the isolates to profile (default all).
// To profile one span only, the parent can send IPC { cmd: "profile-start", id }
// (drops what was sampled so far and starts afresh) and { cmd: "profile-stop", id }
// (writes the files now); each is answered with { id, files }.
// Profiling costs workerd CPU (the sampler, and the inspector's hooks): take
// the profile's proportions, not the bench's figures from the same run.

import { fileURLToPath } from "node:url";
import { bundleWorker, wranglerConfig } from "../../scripts/worker-build.mjs";
import { Miniflare } from "miniflare";
import { writeFileSync, mkdirSync } from "node:fs";
import { startWorkerdProfile } from "./profile.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const profileDir = process.env.BENCH_WORKERD_PROFILE || null;
const viaEntry = process.env.BENCH_MINIFLARE_ENTRY === "1";

async function main() {
  const contents = await bundleWorker(fileURLToPath(new URL("./counting-entry.mjs", import.meta.url)));
  const { durableObjects, compatibilityDate } = wranglerConfig();
  const mf = new Miniflare({
    modules: [{ type: "ESModule", path: `${root}.build/bench-coordinator.mjs`, contents }],
    compatibilityDate,
    host: "127.0.0.1",
    port: 0,
    cf: false,
    durableObjects,
    durableObjectsPersist: false,
    // Requests reach the coordinator Worker on a socket of its own, as in a deployment, not through
    // Miniflare's dev entry Worker (0.2–0.5 ms and its CPU per request here: bench/workerd-wake.mjs
    // measures both). BENCH_MINIFLARE_ENTRY=1 goes through the entry Worker instead.
    ...(viaEntry ? {} : { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] }),
    ...(profileDir ? { inspectorPort: 0 } : {}),
    bindings: {
      SUBMIT_TOKEN: process.env.SUBMIT_TOKEN,
      AGENT_TOKEN: process.env.AGENT_TOKEN,
      SIGNING_KEY: process.env.SIGNING_KEY,
      ...JSON.parse(process.env.BENCH_COORD_VARS || "{}"),
    },
  });
  const entryUrl = await mf.ready;
  const url = (viaEntry ? entryUrl : await mf.unsafeGetDirectURL()).toString().replace(/\/$/, "");
  const profiler = profileDir ? await workerdProfiler(mf, contents) : null;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await profiler?.write().catch((err) => console.error(`workerd profile: ${err?.stack ?? err}`));
    await mf.dispose().catch(() => {});
    process.exit(0);
  };
  if (profiler) {
    // Miniflare's exit hook exits at once on SIGTERM/SIGINT (after killing workerd), which
    // would lose the profile: stop() disposes of Miniflare itself once the profile is written.
    for (const signal of ["SIGTERM", "SIGINT"]) process.removeAllListeners(signal);
  }
  process.on("SIGTERM", stop);
  process.on("SIGINT", () => {}); // the bench decides when to stop
  process.on("disconnect", stop);
  process.send({ url });
}

/** BENCH_WORKERD_PROFILE: profiles every workerd isolate from now on; write() stops and writes them. */
async function workerdProfiler(mf, bundle) {
  const intervalUs = Number(process.env.BENCH_WORKERD_PROFILE_INTERVAL) || 100;
  const only = process.env.BENCH_WORKERD_PROFILE_TARGETS ? new RegExp(process.env.BENCH_WORKERD_PROFILE_TARGETS) : null;
  const inspectorUrl = (await mf.getInspectorURL()).toString();
  let current = await startWorkerdProfile(inspectorUrl, { intervalUs, only });
  let active = true;
  const write = async () => {
    if (!active) return [];
    active = false;
    const prefix = `workerd-${Date.now()}-${process.pid}`;
    mkdirSync(profileDir, { recursive: true });
    writeFileSync(`${profileDir}/${prefix}.bundle.mjs`, bundle);
    const files = await current.stop(profileDir, prefix);
    console.error(`workerd profile written: ${files.join(" ")}`);
    return files;
  };
  process.on("message", async (msg) => {
    if (msg?.cmd !== "profile-start" && msg?.cmd !== "profile-stop") return;
    try {
      let files = [];
      if (msg.cmd === "profile-start") {
        await current.discard();
        current = await startWorkerdProfile(inspectorUrl, { intervalUs, only });
        active = true;
      } else {
        files = await write();
      }
      process.send({ id: msg.id, files });
    } catch (err) {
      process.send({ id: msg.id, error: String(err?.stack ?? err) });
    }
  });
  return { write };
}

main().catch((err) => {
  process.send?.({ error: String(err?.stack ?? err) });
  process.exit(1);
});
