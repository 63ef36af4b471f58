// A real coordinator for end-to-end tests and benchmarks: the Worker bundled
// with esbuild and run by Miniflare (one workerd process) on 127.0.0.1, with
// fresh tokens and a fresh Ed25519 key, optionally persisting its state so a
// test can stop it and start it again on the same data.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorker, wranglerConfig } from "../../scripts/worker-build.mjs";
import { Miniflare } from "miniflare";

const root = fileURLToPath(new URL("../../", import.meta.url));
let bundled: Promise<{ contents: string; config: ReturnType<typeof wranglerConfig> }> | undefined;

/** Bundles src/index.ts once per process; bindings come from wrangler.toml. */
function worker() {
  return (bundled ??= bundleWorker().then((contents) => ({ contents, config: wranglerConfig() })));
}

export interface Secrets {
  submitToken: string;
  agentToken: string;
  signingKey: string;
  /** The public key's `x`, as an agent pins it. */
  publicKey: string;
}

export function makeSecrets(): Secrets {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    submitToken: `submit-${randomBytes(12).toString("hex")}`,
    agentToken: `agent-${randomBytes(12).toString("hex")}`,
    signingKey: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
    publicKey: publicKey.export({ format: "jwk" }).x!,
  };
}

export interface Coordinator extends Secrets {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startCoordinator(opts: {
  secrets?: Secrets;
  /** Directory to keep Durable Object state in (default: in memory). */
  persistDir?: string;
  port?: number;
  vars?: Record<string, string>;
} = {}): Promise<Coordinator> {
  const { contents, config } = await worker();
  const secrets = opts.secrets ?? makeSecrets();
  if (opts.persistDir) mkdirSync(opts.persistDir, { recursive: true });
  // Miniflare makes its working directory under os.tmpdir() when constructed and removes it
  // after dispose() without waiting, so a test process that ends right then leaves it behind.
  // Constructed with TMPDIR pointing here, it is ours to remove.
  const scratchDir = mkdtempSync(join(tmpdir(), "dist-mf-"));
  const mf = withTmpDir(scratchDir, () => new Miniflare({
    modules: [{ type: "ESModule", path: `${root}.build/worker.mjs`, contents }],
    compatibilityDate: config.compatibilityDate,
    host: "127.0.0.1",
    port: opts.port ?? 0,
    cf: false,
    durableObjects: config.durableObjects,
    durableObjectsPersist: opts.persistDir ?? false,
    bindings: {
      SUBMIT_TOKEN: secrets.submitToken,
      AGENT_TOKEN: secrets.agentToken,
      SIGNING_KEY: secrets.signingKey,
      ...opts.vars,
    },
  }));
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const stop = async (): Promise<void> => {
    await mf.dispose();
    rmSync(scratchDir, { recursive: true, force: true, maxRetries: 5 });
  };
  return { ...secrets, url, port: Number(new URL(url).port), stop };
}

/** Runs `make` (synchronous) with TMPDIR set to `dir`, then puts TMPDIR back. */
function withTmpDir<T>(dir: string, make: () => T): T {
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return make();
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
}
