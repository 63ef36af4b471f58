// End-to-end submitter signatures: a key and a signed batch made with the
// agent's own CLI, a real coordinator (which checks signatures at submit),
// and an agent started with --trust-submitter (and --allow-net) that runs only
// what the trusted key signed. Each job fetches a local server, so the
// server's log shows which jobs ran at all.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_CLI, startAgent, type AgentProc } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

let coord: Coordinator;
let api: ReturnType<typeof submitter>;
let agent: AgentProc;
let server: Server;
let dir: string;
const ran: string[] = [];
let trustedX: string;

const cli = (...args: string[]): string => execFileSync(process.execPath, [AGENT_CLI, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });

/** Makes a key with `dist-agent keys generate`; returns its file and public x. */
function makeKey(name: string): { file: string; x: string } {
  const file = join(dir, `${name}.key`);
  const x = /public key \(x\): (\S+)/.exec(cli("keys", "generate", "--out", file))![1]!;
  return { file, x };
}

/** A POST /v1/jobs body from `dist-agent sign`. */
function signedBody(key: string, inputs: unknown[], extra: string[] = []): Record<string, unknown> {
  writeFileSync(join(dir, "inputs.json"), JSON.stringify(inputs));
  return JSON.parse(cli("sign", "--key", key, "--fn", join(dir, "fn.js"), "--inputs", join(dir, "inputs.json"), "--queue", "trust", ...extra));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dist-trust-"));
  server = createServer((req, res) => {
    ran.push(req.url ?? "");
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  writeFileSync(join(dir, "fn.js"), `async (x) => (await fetch("${url}/ran/" + x)).status`);
  coord = await startCoordinator();
  api = submitter(coord.url, coord.submitToken);
  trustedX = makeKey("trusted").x;
  agent = await startAgent({
    url: coord.url, token: coord.agentToken, publicKey: coord.publicKey, concurrency: 2, name: "trusting", queue: "trust",
    args: ["--trust-submitter", trustedX, "--allow-net"],
  });
});
afterAll(async () => {
  await agent?.stop();
  await coord?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function refusedOnce(batchId: string, jobId: string): Promise<void> {
  const [result] = await api.collect(batchId, 15_000);
  expect(result.ok).toBe(false);
  const job = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
  expect(job).toMatchObject({ state: "failed" });
  expect(job.history).toMatchObject([{ agentId: agent.agentId, outcome: "rejected", rejected: "submitter_untrusted" }]);
}

describe("an agent started with --trust-submitter", () => {
  it("runs a batch signed by the trusted key", async () => {
    const sub = await api.call("POST", "/v1/jobs", signedBody(join(dir, "trusted.key"), [1, 2, 3]));
    expect(sub.status).toBe(201);
    const results = await api.collect(sub.body.batchId, 15_000);
    expect(results.map((r) => [r.ok, r.value])).toEqual([[true, 200], [true, 200], [true, 200]]);
    expect(ran.filter((p) => /^\/ran\/[123]$/.test(p)).sort()).toEqual(["/ran/1", "/ran/2", "/ran/3"]);
  });

  it("refuses an unsigned job as submitter_untrusted and never runs it", async () => {
    const { fn } = signedBody(join(dir, "trusted.key"), [0]);
    const sub = await api.call("POST", "/v1/jobs", { fn, input: 4, queue: "trust", maxAttempts: 1 });
    expect(sub.status).toBe(201);
    await refusedOnce(sub.body.batchId, sub.body.jobIds[0]);
    await agent.waitForLine(/refused task .*submitter_untrusted reason="the task is not signed"/, 5_000);
    expect(ran).not.toContain("/ran/4");
  });

  it("refuses a job signed by a key it does not trust and never runs it", async () => {
    const other = makeKey("other");
    const sub = await api.call("POST", "/v1/jobs", signedBody(other.file, [5], ["--max-attempts", "1"]));
    expect(sub.status).toBe(201); // the coordinator checks the signature is the signer's; trust is the agent's call
    await refusedOnce(sub.body.batchId, sub.body.jobIds[0]);
    await agent.waitForLine(/refused task .*submitter_untrusted reason="the task's signer is not trusted"/, 5_000);
    expect(ran).not.toContain("/ran/5");
  });
});
