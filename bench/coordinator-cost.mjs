#!/usr/bin/env node
// node bench/coordinator-cost.mjs [--jobs 20000] [--rounds 3] [--agents 4]
// The coordinator alone: workerd's CPU per job and the jobs/s one queue
// object reaches when nothing else needs the CPU. The coordinator runs as the
// bench runs it (Miniflare, counting wrapper); the agents are in-process
// loops that exchange like dist-agent does (256 slots, results of the last
// answer in the next request) but answer each task with its input at once,
// without checking the envelope or running anything; the submitter posts
// the jobs in batches of 10,000 and follows each batch's results. Far less
// noisy than the whole bench for a change to the coordinator (fewer processes
// share the two cores), and it shows how close the queue object alone is to
// a core. Every round runs a warm-up of the same size first.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { startCoordinator } from "./dist/config.mjs";
import { jsonClient } from "./lib/http.mjs";
import { cpuDelta, cpuSnapshot } from "./lib/procs.mjs";

const { values } = parseArgs({
  options: { jobs: { type: "string", default: "20000" }, rounds: { type: "string", default: "3" }, agents: { type: "string", default: "4" } },
});
const [JOBS, ROUNDS, AGENTS] = [values.jobs, values.rounds, values.agents].map(Number);
if (![JOBS, ROUNDS, AGENTS].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write("--jobs, --rounds and --agents take positive integers\n");
  process.exit(2);
}

const logDir = mkdtempSync(`${tmpdir()}/coordinator-cost-`);
const coord = await startCoordinator({ logDir });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** An agent loop: exchange until told to stop; returns how many requests it made. */
async function agentLoop(client, state) {
  let results = [];
  let requests = 0;
  while (!state.stop || results.length) {
    const answer = await client.call("POST", "/v1/agent/exchange", { slots: 256, wait: state.stop ? 0 : 1, results }, 200, { timeoutMs: 30_000 });
    requests++;
    results = [];
    if (answer.envelope) {
      for (const task of JSON.parse(answer.envelope.payload).tasks) results.push({ leaseId: task.leaseId, ok: true, value: task.input });
    }
  }
  return requests;
}

async function follow(api, batchId) {
  let after = 0;
  let pages = 0;
  for (;;) {
    const page = await api.call("GET", `/v1/batches/${batchId}/results?after=${after}&wait=25&limit=1000`, undefined, 200, { timeoutMs: 40_000 });
    pages++;
    after = page.next;
    if (page.done) return pages;
  }
}

async function round(api, agents, n) {
  const state = { stop: false };
  const loops = agents.map((client) => agentLoop(client, state));
  const inputs = Array.from({ length: n }, (_, i) => `input-${i}-${Math.random().toString(36).slice(2, 12)}`);
  const t0 = performance.now();
  const followers = [];
  let posts = 0;
  for (let offset = 0; offset < n; offset += 10_000) {
    const { batchId } = await api.call("POST", "/v1/jobs", { fn: "(s) => s", inputs: inputs.slice(offset, offset + 10_000) }, 201);
    posts++;
    followers.push(follow(api, batchId));
  }
  const pages = (await Promise.all(followers)).reduce((a, b) => a + b, 0);
  const ms = performance.now() - t0;
  state.stop = true;
  const exchanges = (await Promise.all(loops)).reduce((a, b) => a + b, 0);
  return { ms, requests: posts + pages + exchanges };
}

const clients = [];
try {
  const { url, secrets } = coord;
  const api = jsonClient(url, { authorization: `Bearer ${secrets.submitToken}` });
  const enroller = jsonClient(url, { authorization: `Bearer ${secrets.agentToken}` });
  const agents = [];
  for (let i = 0; i < AGENTS; i++) {
    const enrol = await enroller.call("POST", "/v1/agent/enroll", { name: `cost-${i}` }, 201);
    agents.push(jsonClient(url, { authorization: `Bearer ${enrol.credential}`, "x-agent-id": enrol.agentId }));
  }
  clients.push(api, enroller, ...agents);
  const roles = [{ role: "node", pid: coord.entry.pid, childRole: "workerd" }];
  const rows = [];
  for (let r = 1; r <= ROUNDS; r++) {
    await round(api, agents, JOBS); // warm-up
    const before = cpuSnapshot(roles);
    const { ms, requests } = await round(api, agents, JOBS);
    const cpu = cpuDelta(before, cpuSnapshot(roles));
    const row = { jobsPerSec: (JOBS * 1000) / ms, workerdUsPerJob: (cpu.workerd ?? 0) / JOBS, workerdCoreShare: (cpu.workerd ?? 0) / 1000 / ms, jobsPerRequest: JOBS / requests };
    rows.push(row);
    console.log(
      `round ${r}: ${Math.round(row.jobsPerSec).toLocaleString("en-US")} jobs/s, workerd ${row.workerdUsPerJob.toFixed(1)} µs CPU/job ` +
        `(${Math.round(row.workerdCoreShare * 100)}% of a core), ${row.jobsPerRequest.toFixed(1)} jobs/request`,
    );
  }
  console.log(
    `median of ${ROUNDS}: ${Math.round(median(rows.map((r) => r.jobsPerSec))).toLocaleString("en-US")} jobs/s, ` +
      `workerd ${median(rows.map((r) => r.workerdUsPerJob)).toFixed(1)} µs CPU/job (${JOBS.toLocaleString("en-US")} jobs, ${AGENTS} agent loops)`,
  );
} finally {
  for (const client of clients) client.close();
  await coord.stop();
  rmSync(logDir, { recursive: true, force: true });
}
