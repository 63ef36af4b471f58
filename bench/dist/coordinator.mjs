// The dist coordinator as a bench process: src/index.ts behind the counting
// wrapper (counting-entry.mjs), bundled with esbuild and run by Miniflare
// (one workerd child) on 127.0.0.1, Durable Objects in memory. Its Durable
// Object bindings and compatibility date come from wrangler.toml, as in
// scripts/coordinator-process.mjs. Started with fork(): it sends
// { url } when listening and exits when the parent disconnects or on SIGTERM.
//
// Environment: SUBMIT_TOKEN, AGENT_TOKEN, SIGNING_KEY; BENCH_COORD_VARS
// (JSON of extra bindings, e.g. AGENT_POLL_RATE).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

const root = fileURLToPath(new URL("../../", import.meta.url));

function wranglerConfig() {
  const toml = readFileSync(`${root}wrangler.toml`, "utf8");
  const sqlite = new Set([...(/^new_sqlite_classes\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  const durableObjects = {};
  for (const part of toml.split(/^\[\[durable_objects\.bindings\]\][ \t]*$/m).slice(1)) {
    const block = part.split(/^\[/m)[0];
    const name = /^name\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    const className = /^class_name\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    if (name && className) durableObjects[name] = { className, useSQLite: sqlite.has(className) };
  }
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1] ?? "2026-04-26";
  return { durableObjects, compatibilityDate };
}

async function main() {
  const out = await build({
    entryPoints: [fileURLToPath(new URL("./counting-entry.mjs", import.meta.url))],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*"],
    logLevel: "warning",
  });
  const { durableObjects, compatibilityDate } = wranglerConfig();
  const mf = new Miniflare({
    modules: [{ type: "ESModule", path: `${root}.build/bench-coordinator.mjs`, contents: out.outputFiles[0].text }],
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
