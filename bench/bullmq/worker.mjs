// A BullMQ worker process for the peer configuration: one Worker on the
// bench queue, `concurrency` jobs at once, computing the SHA-256 hex of the
// job's data with node:crypto in-process (BullMQ's usual, unsandboxed mode).
// Environment: REDIS_PORT, BULLMQ_QUEUE, BULLMQ_CONCURRENCY (default 16).

import { createHash } from "node:crypto";
import { Worker } from "bullmq";

const connection = { host: "127.0.0.1", port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null };
const worker = new Worker(process.env.BULLMQ_QUEUE, async (job) => createHash("sha256").update(job.data).digest("hex"), {
  connection,
  concurrency: Number(process.env.BULLMQ_CONCURRENCY || 16),
});
worker.on("error", () => {});

let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  await Promise.race([worker.close(), new Promise((r) => setTimeout(r, 3_000))]);
  process.exit(0);
};
process.on("disconnect", close);
process.on("SIGTERM", close);
process.on("SIGINT", () => {});
await worker.waitUntilReady();
process.send({ ready: true });
