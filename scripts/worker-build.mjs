// Building the coordinator for local runs outside wrangler: the Worker
// bundled with esbuild as wrangler would, and the Durable Object bindings and
// compatibility date read from wrangler.toml, so Miniflare runs exactly what
// deploys. Used by the test harness, the fault-injection process and the bench.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("../", import.meta.url));

/**
 * The Durable Object bindings and compatibility date from wrangler.toml. Only
 * the simple `key = "value"` shapes that file uses are understood.
 */
export function wranglerConfig() {
  const toml = readFileSync(`${root}wrangler.toml`, "utf8");
  const sqlite = new Set([...(/^new_sqlite_classes\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  const durableObjects = {};
  for (const part of toml.split(/^\[\[durable_objects\.bindings\]\][ \t]*$/m).slice(1)) {
    const block = part.split(/^\[/m)[0];
    const name = /^name\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    const className = /^class_name\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    if (name && className) durableObjects[name] = { className, useSQLite: sqlite.has(className) };
  }
  if (Object.keys(durableObjects).length === 0) throw new Error("no [[durable_objects.bindings]] found in wrangler.toml");
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1] ?? "2026-04-26";
  return { durableObjects, compatibilityDate };
}

/** Bundles a Worker entry (default src/index.ts) for workerd; returns the module's text. */
export async function bundleWorker(entry = `${root}src/index.ts`) {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*"],
    logLevel: "warning",
  });
  return out.outputFiles[0].text;
}
