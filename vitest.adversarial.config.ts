// The adversarial suite (`npm run test:adversarial`): tampering through a
// proxy, sandbox escapes, the authorization matrix and a 10,000+ request
// fuzzer, each against a real coordinator and real agent processes, each
// printing its table. One file at a time: the groups start their own
// coordinators and agents, and the fuzzer wants both cores.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/adversarial/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
});
