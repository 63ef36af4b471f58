// An agent of the loopback ceiling: `concurrency` loops, each holding one
// long-poll POST /next open on a keep-alive node:http Agent; the answer is a
// job, whose result rides on the next poll — one request per job.
// Environment: CEILING_URL, CEILING_CONCURRENCY (default 16).

import { createHash } from "node:crypto";
import http from "node:http";

const base = new URL(process.env.CEILING_URL);
const concurrency = Number(process.env.CEILING_CONCURRENCY || 16);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
let stopping = false;

function next(body) {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: base.hostname, port: base.port, path: "/next", method: "POST", agent, headers: { "content-type": "application/json", "content-length": payload.length } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : null));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function loop() {
  let result = {};
  while (!stopping) {
    let job;
    try {
      job = await next(result);
    } catch {
      if (stopping) return;
      await new Promise((r) => setTimeout(r, 100));
      continue; // the result is resent with the next poll
    }
    result = job ? { id: job.id, value: createHash("sha256").update(job.input).digest("hex") } : {};
  }
}

for (let i = 0; i < concurrency; i++) void loop();
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => {});
