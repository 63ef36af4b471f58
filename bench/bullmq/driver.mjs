// The submitter for the BullMQ configuration, as its own process so its CPU
// is counted: Queue.addBulk in chunks of ≤ 10,000 (as dist takes them), and
// results observed the way a BullMQ user observes them, through QueueEvents
// ("completed" carries the return value). A job's latency = the time of its
// completed event (the event stream id: Redis's clock, same machine) − the
// time this process called addBulk for its chunk.
// Commands arrive over IPC: { cmd: "rtt" | "run", id, ... } → { id, ... }.
// Environment: REDIS_PORT, BULLMQ_QUEUE.

import { Queue, QueueEvents } from "bullmq";
import { answerCommands } from "../lib/commands.mjs";

const connection = { host: "127.0.0.1", port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null };
const name = process.env.BULLMQ_QUEUE;
// Event streams are trimmed to 10,000 entries by default; a bench run must not lose any.
const queue = new Queue(name, { connection, streams: { events: { maxLen: 200_000 } } });
const events = new QueueEvents(name, { connection });
queue.on("error", () => {});
events.on("error", () => {});

let phase = null; // { ids: Map jobId → index, early: Map jobId → [value, at], out, n, done }

function onFinished(jobId, value, eventId) {
  const at = Number(String(eventId).split("-")[0]);
  if (!phase) return;
  const index = phase.ids.get(jobId);
  if (index === undefined) phase.early.set(jobId, [value, at]);
  else phase.deliver(index, value, at);
}
events.on("completed", ({ jobId, returnvalue }, eventId) => onFinished(jobId, returnvalue, eventId));
events.on("failed", ({ jobId, failedReason }, eventId) => onFinished(jobId, { error: failedReason ?? "failed" }, eventId));

async function run({ inputs, chunk = 10_000, timeoutMs = 600_000 }) {
  const submittedAt = new Array(inputs.length);
  const out = [];
  let lastAt = 0;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  phase = {
    ids: new Map(),
    early: new Map(),
    deliver(index, value, at) {
      out.push([index, value, at]);
      lastAt = Date.now();
      if (out.length >= inputs.length) resolveDone();
    },
  };
  const t0 = Date.now();
  for (let offset = 0; offset < inputs.length; offset += chunk) {
    const part = inputs.slice(offset, offset + chunk);
    const sent = Date.now();
    const jobs = await queue.addBulk(part.map((data) => ({ name: "sha256", data })));
    jobs.forEach((job, k) => {
      submittedAt[offset + k] = sent;
      phase.ids.set(job.id, offset + k);
      const early = phase.early.get(job.id);
      if (early) {
        phase.early.delete(job.id);
        phase.deliver(offset + k, ...early);
      }
    });
  }
  let timer;
  await Promise.race([done, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${out.length} of ${inputs.length} completed events in time`)), timeoutMs)))]);
  clearTimeout(timer);
  phase = null;
  return { results: out.map(([i, v, at]) => [i, v, at - submittedAt[i]]), wallMs: lastAt - t0 };
}

async function rtt({ inputs }) {
  const samples = [];
  const values = [];
  for (const data of inputs) {
    const t0 = performance.now();
    const job = await queue.add("sha256", data);
    values.push(await job.waitUntilFinished(events, 60_000));
    samples.push(performance.now() - t0);
  }
  return { samples, values };
}

answerCommands({ run, rtt });
const close = async () => {
  await Promise.race([Promise.all([queue.close(), events.close()]), new Promise((r) => setTimeout(r, 3_000))]);
  process.exit(0);
};
process.on("disconnect", close);
process.on("SIGTERM", close);
process.on("SIGINT", () => {});
await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
process.send({ ready: true });
