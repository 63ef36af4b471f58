// loadConfig: flags over environment over defaults, required options, the
// ways to give the public keys to pin (several, for rotation) and the
// submitter keys to trust, and --allow-net.
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
  it("fills defaults; the name (sent when enrolling) defaults to the host name made valid", async () => {
    const c = await config(base());
    expect(c).toMatchObject({
      url: "http://127.0.0.1:8787", token: "t0k", queue: DEFAULTS.queue, waitSeconds: 25, clockSkewMs: 5_000,
      maxMemoryMb: 512, heartbeatMs: 5_000, shutdownGraceMs: 30_000, labels: [], logLevel: "info",
      trustedSubmitters: [], allowNet: false,
    });
    expect(c.concurrency).toBeGreaterThanOrEqual(1);
    expect(c.name).toBe(hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 48));
    expect(c.name).toMatch(/^[A-Za-z0-9_-]{1,48}$/);
    expect(c).not.toHaveProperty("agentId"); // the coordinator assigns it at enrollment
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
  });

  it("refuses a --name the coordinator would refuse", async () => {
    for (const name of ["has.dot", "", "x".repeat(49), "sp ace"]) expect(await codeOf(loadConfig([...base(), "--name", name], {})), name).toBe("bad_option");
    expect((await config([...base(), "--name", "A_b-9"])).name).toBe("A_b-9");
  });

  it("takes --allow-net or DIST_ALLOW_NET=1 to let tasks use the network", async () => {
    expect((await config([...base(), "--allow-net"])).allowNet).toBe(true);
    expect((await config(base(), { DIST_ALLOW_NET: "1" })).allowNet).toBe(true);
    expect((await config(base(), { DIST_ALLOW_NET: "0" })).allowNet).toBe(false);
  });

  it("runs tasks at niceness 10 unless --nice or DIST_NICE says otherwise (0-19)", async () => {
    expect((await config(base())).nice).toBe(10);
    expect((await config([...base(), "--nice", "0"])).nice).toBe(0);
    expect((await config(base(), { DIST_NICE: "19" })).nice).toBe(19);
    expect((await config([...base(), "--nice", "3"], { DIST_NICE: "19" })).nice).toBe(3);
    for (const bad of ["-1", "20", "high", "2.5"]) expect(await codeOf(loadConfig([...base(), `--nice=${bad}`], {})), bad).toBe("bad_option");
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

  it("pins several coordinator keys: comma-separated x values, a repeated flag, or a JWKS", async () => {
    const second = (await generateSigningKey()).jwk;
    const third = (await generateSigningKey()).jwk;
    const xs = (c: AgentConfig) => c.publicKeys.map((k) => k.x);
    expect(xs(await config(["--url", "http://x", "--token", "t", "--public-key", `${jwk.x},${second.x}`]))).toEqual([jwk.x, second.x]);
    expect(xs(await config(["--url", "http://x", "--token", "t", `--public-key=${jwk.x}`, "--public-key", `${second.x}, ${third.x}`]))).toEqual([jwk.x, second.x, third.x]);
    expect(xs(await config(["--url", "http://x", "--token", "t"], { DIST_PUBLIC_KEY: `${second.x},${jwk.x},${second.x}` }))).toEqual([second.x, jwk.x]);
  });

  it("reads --trust-submitter (or DIST_TRUST_SUBMITTER) in the same forms, and refuses a bad one with bad_trust_key", async () => {
    const submitter = (await generateSigningKey()).jwk;
    const other = (await generateSigningKey()).jwk;
    const file = join(dir, "submitters.json");
    writeFileSync(file, JSON.stringify({ keys: [other] }));
    const trusted = (c: AgentConfig) => c.trustedSubmitters.map((k) => k.x);
    expect(trusted(await config([...base(), "--trust-submitter", submitter.x, "--trust-submitter", file]))).toEqual([submitter.x, other.x]);
    expect(trusted(await config(base(), { DIST_TRUST_SUBMITTER: `${submitter.x},${other.x}` }))).toEqual([submitter.x, other.x]);
    expect(await codeOf(loadConfig([...base(), "--trust-submitter", "not-a-key"], {}))).toBe("bad_trust_key");
  });

  it("answers --help and --version without requiring anything else", async () => {
    expect(await loadConfig(["--help"], {})).toEqual({ action: "help" });
    expect(await loadConfig(["--version"], {})).toEqual({ action: "version" });
  });
});
