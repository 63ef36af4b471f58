#!/usr/bin/env node
// node bench/request-cost.mjs [--requests 2000] — workerd's CPU for one
// request with next to no dist work in it: the coordinator as the bench runs
// it (Miniflare, counting wrapper), one tiny batch, then N sequential
// requests of each kind, CPU read from /proc before and after. It tells how
// much of workerd's CPU per job is per request (the bench's ~300 requests per
// 20,000 jobs) rather than per job.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { startCoordinator } from "./dist/config.mjs";
import { jsonClient } from "./lib/http.mjs";
import { cpuDelta, cpuSnapshot } from "./lib/procs.mjs";

const { values } = parseArgs({ options: { requests: { type: "string", default: "2000" } } });
const N = Number(values.requests);
if (!Number.isInteger(N) || N < 1) {
  process.stderr.write("--requests must be a positive integer\n");
  process.exit(2);
}
const logDir = mkdtempSync(`${tmpdir()}/request-cost-`);
const coord = await startCoordinator({ logDir });
try {
  const api = jsonClient(coord.url, { authorization: `Bearer ${coord.secrets.submitToken}` });
  const { batchId } = await api.call("POST", "/v1/jobs", { fn: "(x) => x", inputs: [1, 2, 3] }, 201);
  const roles = [{ role: "node", pid: coord.entry.pid, childRole: "workerd" }];
  const kinds = [
    ["GET /v1/keys (Worker only)", "/v1/keys"],
    ["GET a batch (one DO call)", `/v1/batches/${batchId}`],
    ["GET its results, wait=0", `/v1/batches/${batchId}/results?after=0&wait=0`],
  ];
  for (const [label, path] of kinds) {
    for (let i = 0; i < Math.min(200, N); i++) await api.call("GET", path, undefined, 200);
    const before = cpuSnapshot(roles);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await api.call("GET", path, undefined, 200);
    const wallUs = ((performance.now() - t0) * 1000) / N;
    const cpu = cpuDelta(before, cpuSnapshot(roles));
    console.log(`${label.padEnd(30)} workerd ${Math.round((cpu.workerd ?? 0) / N)} µs CPU per request, ${Math.round(wallUs)} µs wall`);
  }
} finally {
  await coord.stop();
  rmSync(logDir, { recursive: true, force: true });
}
