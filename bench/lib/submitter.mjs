// The submitter for the dist and the ceiling configurations (the ceiling
// server speaks the same two routes), as its own process so that its CPU is
// counted with the configuration's: POST /v1/jobs with inputs (≤ 10,000 per
// request), then each batch's GET /v1/batches/:id/results?after=&wait=
// long-poll until `done`. Latency of a job = its finishedAt (the server's
// clock, same machine) − the time this process sent the POST that carried it.
// Commands arrive over IPC: { cmd: "rtt" | "run", id, ... } → { id, ... }.
//
// Environment: BENCH_URL, BENCH_TOKEN (bearer token; optional).

import { jsonClient } from "./http.mjs";
import { answerCommands } from "./commands.mjs";

const client = jsonClient(process.env.BENCH_URL, process.env.BENCH_TOKEN ? { authorization: `Bearer ${process.env.BENCH_TOKEN}` } : {});

/** Follows one batch to the end; pushes [globalIndex, value, finishedAt, receivedAt] per result. */
async function follow(batchId, offset, out, deadline) {
  let after = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`batch ${batchId} not done in time (${out.length} results so far)`);
    const page = await client.call("GET", `/v1/batches/${batchId}/results?after=${after}&wait=25&limit=1000`, undefined, 200, { timeoutMs: 40_000 });
    const now = Date.now();
    for (const r of page.results) out.push([offset + r.index, r.ok ? r.value : { error: r.error?.code ?? r.error?.name ?? "error" }, r.finishedAt, now]);
    after = page.next;
    if (page.done) return;
  }
}

async function run({ inputs, fn, extra = {}, chunk = 10_000, timeoutMs = 600_000 }) {
  const deadline = Date.now() + timeoutMs;
  const results = [];
  const submittedAt = new Array(inputs.length);
  const followers = [];
  const t0 = Date.now();
  for (let offset = 0; offset < inputs.length; offset += chunk) {
    const part = inputs.slice(offset, offset + chunk);
    const sent = Date.now();
    const { batchId } = await client.call("POST", "/v1/jobs", { ...(fn ? { fn } : {}), ...extra, inputs: part }, 201);
    submittedAt.fill(sent, offset, offset + part.length);
    followers.push(follow(batchId, offset, results, deadline));
  }
  await Promise.all(followers);
  const lastReceived = results.reduce((m, r) => Math.max(m, r[3]), t0);
  return { results: results.map(([i, v, f]) => [i, v, f - submittedAt[i]]), wallMs: lastReceived - t0 };
}

/** One job at a time on an idle system: ms from sending the POST until its result has been read. */
async function rtt({ inputs, fn, extra = {} }) {
  const samples = [];
  const values = [];
  for (const input of inputs) {
    const t0 = performance.now();
    const { batchId } = await client.call("POST", "/v1/jobs", { ...(fn ? { fn } : {}), ...extra, inputs: [input] }, 201);
    const out = [];
    await follow(batchId, 0, out, Date.now() + 60_000);
    samples.push(performance.now() - t0);
    values.push(out[0]?.[1] ?? null);
  }
  return { samples, values };
}

answerCommands({ run, rtt });
process.on("disconnect", () => process.exit(0));
process.on("SIGINT", () => {});
process.send({ ready: true });
