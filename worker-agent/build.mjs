// Bundles the agent (and the shared protocol code from ../src/protocol) into
// self-contained files under dist/, so the published package needs nothing
// from this repository at run time.
import { build } from "esbuild";
import { chmod } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(`${here}package.json`, "utf8"));
// entry (under src/) → output name (under dist/)
const entries = { cli: "cli", "sandbox-child": "sandbox-child", "dist-cli/main": "dist" };

await build({
  entryPoints: Object.entries(entries).map(([src, out]) => ({ in: `${here}src/${src}.ts`, out })),
  outdir: `${here}dist`,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: false,
  logLevel: "warning",
  define: { __AGENT_VERSION__: JSON.stringify(version) },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
for (const bin of ["cli", "dist"]) if (existsSync(`${here}dist/${bin}.js`)) await chmod(`${here}dist/${bin}.js`, 0o755);
