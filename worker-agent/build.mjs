// Bundles the agent (and the shared protocol code from ../src/protocol) into
// self-contained files under dist/, so the published package needs nothing
// from this repository at run time.
import { build } from "esbuild";
import { chmod } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(`${here}package.json`, "utf8"));
const entries = ["cli", "sandbox-child"].filter((name) => existsSync(`${here}src/${name}.ts`));

await build({
  entryPoints: entries.map((name) => `${here}src/${name}.ts`),
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
if (existsSync(`${here}dist/cli.js`)) await chmod(`${here}dist/cli.js`, 0o755);
