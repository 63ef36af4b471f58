// The dist coordinator as a bench process: src/index.ts behind the counting
// wrapper (counting-entry.mjs), bundled with esbuild and run by Miniflare
// (one workerd child) on 127.0.0.1, Durable Objects in memory. Its Durable
// Object bindings and compatibility date come from wrangler.toml, as in
// scripts/coordinator-process.mjs. Started with fork(): it sends
// { url } when listening and exits when the parent disconnects or on SIGTERM.
//
// Environment: SUBMIT_TOKEN, AGENT_TOKEN, SIGNING_KEY; BENCH_COORD_VARS
// (JSON of extra bindings, e.g. AGENT_POLL_RATE).

import { fileURLToPath } from "node:url";
import { bundleWorker, wranglerConfig } from "../../scripts/worker-build.mjs";
import { Miniflare } from "miniflare";

const root = fileURLToPath(new URL("../../", import.meta.url));

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
    bindings: {
      SUBMIT_TOKEN: process.env.SUBMIT_TOKEN,
      AGENT_TOKEN: process.env.AGENT_TOKEN,
      SIGNING_KEY: process.env.SIGNING_KEY,
      ...JSON.parse(process.env.BENCH_COORD_VARS || "{}"),
    },
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
  process.on("SIGINT", () => {}); // the bench decides when to stop
  process.on("disconnect", stop);
  process.send({ url });
}

main().catch((err) => {
  process.send?.({ error: String(err?.stack ?? err) });
  process.exit(1);
});
