// The submitter's tools in the dist-agent bin: `keys generate` and `sign`,
// run as a user would run them (the built CLI), checked with the protocol's
// own verification.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importSignerKey, importSigningKey, sha256Hex, verifyJob } from "../../src/protocol/index.js";
import { AGENT_CLI } from "../helpers/agent.js";

let dir: string;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AGENT_CLI, ...args], { env: { PATH: process.env.PATH ?? "" } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "dist-tools-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("dist-agent keys generate", () => {
  it("writes the private key with mode 0600 and prints the public x, labelled; it never overwrites a key", async () => {
    const file = join(dir, "signer.key");
    const made = await cli("keys", "generate", "--out", file);
    expect(made.code).toBe(0);
    const x = /^public key \(x\): ([A-Za-z0-9_-]{43})$/m.exec(made.stdout)![1]!;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await importSigningKey(readFileSync(file, "utf8").trim())).jwk.x).toBe(x);
    const again = await cli("keys", "generate", "--out", file);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists/);
    expect((await importSigningKey(readFileSync(file, "utf8").trim())).jwk.x).toBe(x);
  });

  it("without --out prints only the private key on stdout (the SIGNING_KEY format) and the public x on stderr", async () => {
    const made = await cli("keys", "generate");
    expect(made.code).toBe(0);
    const key = await importSigningKey(made.stdout.trim());
    expect(made.stdout.trim().split("\n")).toHaveLength(1);
    expect(made.stderr).toContain(`public key (x): ${key.jwk.x}`);
  });
});

describe("dist-agent sign", () => {
  it("prints a POST /v1/jobs body whose signatures verify for the function's hash and each input", async () => {
    const keyFile = join(dir, "sign.key");
    const x = /public key \(x\): (\S+)/.exec((await cli("keys", "generate", "--out", keyFile)).stdout)![1]!;
    const fn = "(n) => n * n\n";
    const inputs = [1, { a: [2, "three"] }, null, "four"];
    writeFileSync(join(dir, "fn.js"), fn);
    writeFileSync(join(dir, "inputs.json"), JSON.stringify(inputs));
    const signed = await cli("sign", "--key", keyFile, "--fn", join(dir, "fn.js"), "--inputs", join(dir, "inputs.json"), "--queue", "signed", "--max-attempts", "2");
    expect(signed.code).toBe(0);
    const body = JSON.parse(signed.stdout);
    expect(body).toMatchObject({ fn, inputs, signer: x, queue: "signed", maxAttempts: 2 });
    const key = (await importSignerKey(x))!;
    const fnHash = await sha256Hex(fn);
    for (const [i, input] of inputs.entries()) expect(await verifyJob(key, body.signatures[i], fnHash, input)).toBe(true);
    expect(await verifyJob(key, body.signatures[0], fnHash, 2)).toBe(false);
  });

  it("refuses missing or malformed arguments with exit code 2", async () => {
    writeFileSync(join(dir, "not-array.json"), '{"a":1}');
    const missing = await cli("sign", "--fn", join(dir, "fn.js"), "--inputs", join(dir, "inputs.json"));
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/--key is required/)]);
    const keyFile = join(dir, "bad-args.key");
    await cli("keys", "generate", "--out", keyFile);
    const notArray = await cli("sign", "--key", keyFile, "--fn", join(dir, "fn.js"), "--inputs", join(dir, "not-array.json"));
    expect([notArray.code, notArray.stderr]).toEqual([2, expect.stringMatching(/JSON array/)]);
    writeFileSync(join(dir, "garbage.key"), "not a key");
    const badKey = await cli("sign", "--key", join(dir, "garbage.key"), "--fn", join(dir, "fn.js"), "--inputs", join(dir, "inputs.json"));
    expect([badKey.code, badKey.stderr]).toEqual([2, expect.stringMatching(/private key/)]);
    expect((await cli("keys", "make")).code).toBe(2);
  });
});

describe("--help", () => {
  it("documents the agent's flags and both tools", async () => {
    const main = await cli("--help");
    expect(main.code).toBe(0);
    for (const text of ["--allow-net", "--trust-submitter", "--public-key", "keys generate", "dist-agent sign", "revoked"]) expect(main.stdout).toContain(text);
    const keys = await cli("keys", "--help");
    expect([keys.code, keys.stdout]).toEqual([0, expect.stringContaining("--out <file>")]);
    const sign = await cli("sign", "--help");
    expect([sign.code, sign.stdout]).toEqual([0, expect.stringContaining("--inputs <file.json>")]);
  });
});
