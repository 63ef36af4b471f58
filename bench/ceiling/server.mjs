// The loopback ceiling: the barest long-poll coordinator node:http allows,
// with one request per job on the agent side. No auth, leases, signatures,
// persistence or retries — only what any coordinator must do: hold a queue,
// hand one job to each waiting poll, take the result back and let the
// submitter read results in completion order.
//
//   POST /next                 body {} or { id, value } (the previous job's result);
//                              answers the next job { id, input } at once or when one
//                              arrives, or 204 after 25 s
//   POST /v1/jobs              { inputs } → 201 { batchId }            (same shape as dist)
//   GET  /v1/batches/:id/results?after=&wait=&limit=
//                              { results: [{ index, ok, value, finishedAt }], next, done }
//   GET  /__stats              { requests, parked } (not counted)
//
// Started with fork(): sends { url } when listening; exits on disconnect or SIGTERM.

import http from "node:http";

const POLL_WAIT_MS = 25_000;
const jobs = []; // id → { batch, index, input }
let head = 0; // next job to hand out
const batches = new Map(); // batchId → { total, results: [], waiters: Set }
const parked = []; // waiting /next polls: { res, timer }
let requests = 0;
let nextBatch = 1;

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status, { "content-length": 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function handOut(res) {
  const id = head++;
  send(res, 200, { id, input: jobs[id].input });
}

function dispatch() {
  while (head < jobs.length && parked.length > 0) {
    const poll = parked.shift();
    clearTimeout(poll.timer);
    handOut(poll.res);
  }
}

function record(id, value) {
  const job = jobs[id];
  if (!job || job.done) return;
  job.done = true;
  const batch = batches.get(job.batch);
  batch.results.push({ index: job.index, ok: true, value, finishedAt: Date.now() });
  for (const wake of [...batch.waiters]) wake();
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve(text ? JSON.parse(text) : {});
      } catch (err) {
        reject(err);
      }
    });
    req.on("error", reject);
  });
}

function resultsPage(batch, after, limit) {
  const results = batch.results.slice(after, after + limit);
  const next = after + results.length;
  return { results, next, done: next >= batch.total };
}

async function handle(req, res) {
  const url = req.url;
  if (url === "/__stats") return send(res, 200, { requests, parked: parked.length });
  requests++;
  if (req.method === "POST" && url === "/next") {
    const body = await readJson(req);
    if (body.id !== undefined) record(body.id, body.value);
    if (head < jobs.length) return handOut(res);
    const poll = { res, timer: null };
    poll.timer = setTimeout(() => {
      const i = parked.indexOf(poll);
      if (i >= 0) parked.splice(i, 1);
      send(res, 204);
    }, POLL_WAIT_MS);
    parked.push(poll);
    return;
  }
  if (req.method === "POST" && url === "/v1/jobs") {
    const { inputs } = await readJson(req);
    const batchId = `b${nextBatch++}`;
    batches.set(batchId, { total: inputs.length, results: [], waiters: new Set() });
    inputs.forEach((input, index) => jobs.push({ batch: batchId, index, input }));
    dispatch();
    return send(res, 201, { batchId });
  }
  const m = /^\/v1\/batches\/([^/?]+)\/results\?(.*)$/.exec(url);
  if (req.method === "GET" && m) {
    const batch = batches.get(m[1]);
    if (!batch) return send(res, 404, { error: { code: "not_found" } });
    const q = new URLSearchParams(m[2]);
    const after = Number(q.get("after") ?? 0);
    const limit = Math.min(1000, Number(q.get("limit") ?? 1000));
    const waitMs = Math.min(25, Number(q.get("wait") ?? 0)) * 1000;
    if (batch.results.length > after || waitMs <= 0 || batch.results.length >= batch.total) {
      return send(res, 200, resultsPage(batch, after, limit));
    }
    const wake = () => {
      clearTimeout(timer);
      batch.waiters.delete(wake);
      send(res, 200, resultsPage(batch, after, limit));
    };
    const timer = setTimeout(wake, waitMs);
    batch.waiters.add(wake);
    return;
  }
  send(res, 404, { error: { code: "not_found" } });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) send(res, 400, { error: { code: "bad_request" } });
  });
});
server.keepAliveTimeout = 60_000;
server.requestTimeout = 0;
server.listen(0, "127.0.0.1", () => process.send({ url: `http://127.0.0.1:${server.address().port}` }));
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => {});
