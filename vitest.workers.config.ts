// Coordinator tests, run inside workerd by the Workers vitest pool against
// the real Worker and Durable Objects from wrangler.toml.
import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// A throwaway key pair per run: the public half is handed to the tests as a
// binding so they can verify envelopes the way an agent would.
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
const publicX = publicKey.export({ format: "jwk" }).x!;
// A second, next key: published but not yet signing (rotation).
const next = generateKeyPairSync("ed25519");
const nextPkcs8 = next.privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
const nextX = next.publicKey.export({ format: "jwk" }).x!;

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          SUBMIT_TOKEN: "test-submit-token,test-submit-token-2",
          AGENT_TOKEN: "test-agent-token",
          SIGNING_KEY: `${pkcs8},${nextPkcs8}`,
          TEST_PUBLIC_X: publicX,
          TEST_NEXT_PUBLIC_X: nextX,
          ENVELOPE_TTL_MS: "60000",
          DELIVERY_LEASE_MS: "1000",
          AGENT_POLL_RATE: "10",
        },
      },
    }),
  ],
  test: {
    include: ["test/workers/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
