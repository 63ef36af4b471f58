// loadConfig: flags over environment over defaults, required options, and
// the three ways to give the public key to pin.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, kidOf, type PublicJwk } from "../../src/protocol/index.js";
import { DEFAULTS, loadConfig, type AgentConfig } from "../../worker-agent/src/config.js";
import { AgentError } from "../../worker-agent/src/errors.js";

let jwk: PublicJwk;
let dir: string;
const base = (): string[] => ["--url", "http://127.0.0.1:8787", "--token", "t0k", "--public-key", jwk.x];

async function config(argv: string[], env: Record<string, string> = {}): Promise<AgentConfig> {
  const loaded = await loadConfig(argv, env);
  if (loaded.action !== "run") throw new Error(`expected run, got ${loaded.action}`);
  return loaded.config;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return (err as AgentError).code;
  }
  throw new Error("expected an AgentError");
}

beforeAll(async () => {
  jwk = (await generateSigningKey()).jwk;
  dir = mkdtempSync(join(tmpdir(), "dist-config-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadConfig", () => {
  it("fills defaults and derives an agent id from the name", async () => {
    const c = await config(base());
    expect(c).toMatchObject({
      url: "http://127.0.0.1:8787", token: "t0k", queue: DEFAULTS.queue, waitSeconds: 25, clockSkewMs: 5_000,
      maxMemoryMb: 512, heartbeatMs: 5_000, shutdownGraceMs: 30_000, labels: [], logLevel: "info",
    });
    expect(c.concurrency).toBeGreaterThanOrEqual(1);
    expect(c.name).toBe(hostname().replace(/[^A-Za-z0-9._-]/g, "-"));
    expect(c.agentId).toMatch(new RegExp(`^${c.name.replace(/\./g, "\\.")}-[A-Za-z0-9_-]{6}$`));
    expect((await config(base())).agentId).not.toBe(c.agentId); // new per start
    expect(c.publicKeys).toEqual([{ kty: "OKP", crv: "Ed25519", x: jwk.x, kid: jwk.kid }]);
  });

  it("reads the environment, and flags win over it", async () => {
    const env = {
      DIST_URL: "https://coord.example/", DIST_AGENT_TOKEN: "from-env", DIST_PUBLIC_KEY: jwk.x, DIST_QUEUE: "envq",
      DIST_CONCURRENCY: "7", DIST_NAME: "envname", DIST_LABELS: "gpu, big ,", DIST_CLOCK_SKEW_MS: "100",
    };
    const fromEnv = await config([], env);
    expect(fromEnv).toMatchObject({ url: "https://coord.example", token: "from-env", queue: "envq", concurrency: 7, name: "envname", labels: ["gpu", "big"], clockSkewMs: 100 });
    const flags = await config(["--token", "from-flag", "--queue", "flagq", "--concurrency", "3", "--name", "flagname", "--labels", "a", "--wait", "5", "--max-memory-mb", "64", "--heartbeat-ms", "250", "--shutdown-grace-ms", "0"], env);
    expect(flags).toMatchObject({ url: "https://coord.example", token: "from-flag", queue: "flagq", concurrency: 3, name: "flagname", labels: ["a"], waitSeconds: 5, maxMemoryMb: 64, heartbeatMs: 250, shutdownGraceMs: 0 });
    expect(flags.agentId).toMatch(/^flagname-/);
  });

  it("refuses a missing url, token or public key with missing_option", async () => {
    expect(await codeOf(loadConfig(["--token", "t", "--public-key", jwk.x], {}))).toBe("missing_option");
    expect(await codeOf(loadConfig(["--url", "http://x", "--public-key", jwk.x], {}))).toBe("missing_option");
    expect(await codeOf(loadConfig(["--url", "http://x", "--token", "t"], { DIST_PUBLIC_KEY: "" }))).toBe("missing_option");
  });

  it("refuses bad values with bad_option, naming the flag but never echoing the token", async () => {
    for (const extra of [["--concurrency", "0"], ["--concurrency", "two"], ["--wait", "26"], ["--queue", "Bad Queue"], ["--url", "ftp://x"], ["--bogus"], ["positional"], ["--log-level", "loud"]]) {
      expect(await codeOf(loadConfig([...base(), ...extra], {})), extra.join(" ")).toBe("bad_option");
    }
    const err = await loadConfig([...base(), "--wait", "99"], {}).catch((e: Error) => e);
    expect(String((err as Error).message)).toContain("--wait");
    expect(String((err as Error).message)).not.toContain("t0k");
  });

  it("accepts the public key as a JWK, a JWK file or a JWKS file, and refuses anything else with bad_public_key", async () => {
    const asJwk = JSON.stringify(jwk);
    const jwkFile = join(dir, "key.jwk.json");
    const jwksFile = join(dir, "keys.json");
    const second = (await generateSigningKey()).jwk;
    writeFileSync(jwkFile, asJwk);
    writeFileSync(jwksFile, JSON.stringify({ keys: [jwk, second] }));
    const expected = { kty: "OKP", crv: "Ed25519", x: jwk.x, kid: await kidOf(jwk.x) };
    expect((await config(["--url", "http://x", "--token", "t", "--public-key", asJwk])).publicKeys).toEqual([expected]);
    expect((await config(["--url", "http://x", "--token", "t", "--public-key", jwkFile])).publicKeys).toEqual([expected]);
    expect((await config(["--url", "http://x", "--token", "t"], { DIST_PUBLIC_KEY: jwksFile })).publicKeys.map((k) => k.x)).toEqual([jwk.x, second.x]);
    for (const bad of [join(dir, "missing.json"), "{\"kty\":\"RSA\"}", "A".repeat(42), "{not json"]) {
      expect(await codeOf(loadConfig(["--url", "http://x", "--token", "t", "--public-key", bad], {})), bad).toBe("bad_public_key");
    }
  });

  it("answers --help and --version without requiring anything else", async () => {
    expect(await loadConfig(["--help"], {})).toEqual({ action: "help" });
    expect(await loadConfig(["--version"], {})).toEqual({ action: "version" });
  });
});
