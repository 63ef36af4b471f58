// Memory figures of dist: an idle agent (the dist-agent process and its
// sandbox children, 5 s after it started polling), and the coordinator's
// workerd process holding 1,000 idle long-polls on one queue.

import http from "node:http";
import { openSync } from "node:fs";
import { availableParallelism } from "node:os";
import { findInTree, readStat, sleep, startProcess, stopProcess, treeMemory } from "../lib/procs.mjs";
import { AGENT_CLI, startCoordinator } from "./config.mjs";

const baseEnv = () => Object.fromEntries(["PATH", "HOME"].filter((k) => process.env[k]).map((k) => [k, process.env[k]]));

/**
 * The agent as a volunteer starts it: default concurrency (CPU count) and log
 * level. RSS of the agent and its sandbox children `idleMs` after it began
 * polling; then, after it ran `jobs` jobs, again once it has been idle for
 * `afterWorkMs` (past the pool's 30 s idle reaping of sandbox children).
 */
export async function measureIdleAgent({ logDir, idleMs = 5_000, jobs = 200, afterWorkMs = 35_000 }) {
  const coord = await startCoordinator({ logDir });
  let agent;
  try {
    const fd = openSync(`${logDir}/dist-agent-idle.log`, "a");
    const args = [AGENT_CLI, "--url", coord.url, "--token", coord.secrets.agentToken, `--public-key=${coord.secrets.publicKey}`, "--name", "bench-idle"];
    agent = startProcess("dist-agent (idle)", process.execPath, args, { env: baseEnv(), stdio: ["ignore", "ignore", fd] });
    const deadline = Date.now() + 60_000;
    while ((await coord.stats()).pollers < 1) {
      if (agent.exited || Date.now() > deadline) throw new Error("the idle agent did not start polling");
      await sleep(100);
    }
    await sleep(idleMs);
    const fresh = snapshot(agent.pid);
    if (!afterWorkMs) return { concurrency: availableParallelism(), ...fresh };
    await runJobs(coord, jobs);
    const busy = snapshot(agent.pid);
    await sleep(afterWorkMs);
    return { concurrency: availableParallelism(), ...fresh, whileWorking: busy, afterWork: { idleMs: afterWorkMs, jobs, ...snapshot(agent.pid) } };
  } finally {
    await stopProcess(agent);
    await coord.stop();
  }
}

function snapshot(pid) {
  const tree = treeMemory(pid);
  return { rssBytes: tree.rss, pssBytes: tree.pss, processes: tree.processes, agentProcessRssBytes: readStat(pid)?.rssBytes ?? null };
}

/** Submits `n` quick jobs and waits for all their results. */
async function runJobs(coord, n) {
  const headers = { authorization: `Bearer ${coord.secrets.submitToken}` };
  const agent = new http.Agent({ keepAlive: false });
  try {
    const fn = "(x) => x * 2";
    const { status, body } = await post(coord.url, "/v1/jobs", headers, { fn, inputs: Array.from({ length: n }, (_, i) => i) }, agent);
    if (status !== 201) throw new Error(`submit → ${status}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const batch = await get(coord.url, `/v1/batches/${body.batchId}`, headers, agent);
      if (batch.body?.counts?.done === n || batch.body?.done === true || batch.body?.finished === n) return;
      if (Date.now() > deadline) throw new Error(`the idle agent did not finish ${n} jobs in 60 s: ${JSON.stringify(batch.body)}`);
      await sleep(200);
    }
  } finally {
    agent.destroy();
  }
}

function get(url, path, headers, agent) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path, method: "GET", agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "null") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function post(url, path, headers, body, agent) {
  const payload = Buffer.from(JSON.stringify(body));
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: u.hostname, port: u.port, path, method: "POST", agent, headers: { ...headers, "content-type": "application/json", "content-length": payload.length } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Opens `polls` idle long-polls (POST /v1/agent/exchange asking for one task,
 * wait 25 s: what an idle agent sends) on the default queue from
 * `polls / perAgent` enrolled agents, and reads workerd's RSS before and
 * with them parked.
 */
export async function measureIdlePolls({ logDir, polls = 1_000, perAgent = 20 }) {
  const coord = await startCoordinator({ logDir });
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  try {
    const workerd = findInTree(coord.entry.pid, /workerd/);
    const shared = { authorization: `Bearer ${coord.secrets.agentToken}` };
    const identities = [];
    let preEnrollment = false;
    for (let i = 0; i < Math.ceil(polls / perAgent); i++) {
      const r = await post(coord.url, "/v1/agent/enroll", shared, { name: `idle-${i}` }, agent);
      if (r.status === 201) identities.push({ authorization: `Bearer ${r.body.credential}`, "x-agent-id": r.body.agentId });
      else if (i === 0 && (await post(coord.url, "/v1/agent/poll", { ...shared, "x-agent-id": "idle-0" }, { slots: 1, wait: 0 }, agent)).status === 204) {
        preEnrollment = true; // a coordinator from before enrollment: the shared token and any X-Agent-Id
        identities.push({ ...shared, "x-agent-id": `idle-${i}` });
      } else if (preEnrollment) identities.push({ ...shared, "x-agent-id": `idle-${i}` });
      else throw new Error(`enroll → ${r.status} ${JSON.stringify(r.body)}`);
    }
    // Wake the queue object, then let the process settle before the baseline.
    const first = await post(coord.url, "/v1/agent/poll", identities[0], { slots: 1, wait: 0 }, agent);
    if (first.status !== 204) throw new Error(`a first empty poll → ${first.status} ${JSON.stringify(first.body)}`);
    await sleep(1_000);
    const before = { workerd: readStat(workerd)?.rssBytes, tree: treeMemory(coord.entry.pid) };
    const route = preEnrollment ? "agent poll" : "agent exchange";
    const pollsBefore = (await coord.stats()).counts[route] ?? 0;
    let answeredEarly = 0;
    for (let i = 0; i < polls; i++) {
      post(coord.url, `/v1/agent/${preEnrollment ? "poll" : "exchange"}`, identities[Math.floor(i / perAgent)], { slots: 1, wait: 25 }, agent).then(
        () => answeredEarly++,
        () => {},
      );
    }
    const deadline = Date.now() + 15_000;
    while (((await coord.stats()).counts[route] ?? 0) - pollsBefore < polls) {
      if (Date.now() > deadline) throw new Error("the coordinator did not receive all idle polls within 15 s");
      await sleep(100);
    }
    await sleep(2_000);
    const after = { workerd: readStat(workerd)?.rssBytes, tree: treeMemory(coord.entry.pid) };
    return {
      polls,
      agents: identities.length,
      answeredEarly,
      preEnrollment,
      workerdRssBeforeBytes: before.workerd,
      workerdRssBytes: after.workerd,
      coordinatorTreeRssBytes: after.tree.rss,
      perPollBytes: (after.workerd - before.workerd) / polls,
    };
  } finally {
    agent.destroy();
    await coord.stop();
  }
}
