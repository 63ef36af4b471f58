// Option values that start with "-": a base64url public key (1 in 64 do) or a
// token may, and must still be read as values, not refused as ambiguous.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../worker-agent/src/config.js";

/** An Ed25519 public key whose base64url `x` starts with "-". */
function dashKey(): string {
  for (;;) {
    const x = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!;
    if (x.startsWith("-")) return x;
  }
}

describe("option values starting with a dash", () => {
  it("a --public-key whose base64url value starts with '-' is taken as the key", async () => {
    const key = dashKey();
    const loaded = await loadConfig(["--url", "http://127.0.0.1:8787", "--token", "-tok", "--public-key", key], {});
    expect(loaded.action).toBe("run");
    if (loaded.action !== "run") return;
    expect(loaded.config.publicKeys.map((k) => k.x)).toEqual([key]);
    expect(loaded.config.token).toBe("-tok");
  });

  it("the --flag=value form and boolean flags work as before", async () => {
    const key = dashKey();
    const loaded = await loadConfig([`--url=http://127.0.0.1:8787`, "--token=t", `--public-key=${key}`, "--concurrency", "2"], {});
    expect(loaded.action === "run" && loaded.config.concurrency).toBe(2);
    expect((await loadConfig(["--help"], {})).action).toBe("help");
  });
});
