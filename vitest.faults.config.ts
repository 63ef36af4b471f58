// The fault-injection suite (`npm run test:faults`): real coordinator and
// agent processes, killed, restarted and cut off on purpose. One file at a
// time: each case loads both cores, and timings are part of what it checks.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
