// The sandbox group: escapes submitted as ordinary jobs to one real agent,
// which must contain every one and keep serving. What "contained" means is
// stated per case (escape-cases.ts); for every case, no secret (the shared
// agent token, the agent's own credential, the submit token, the signing
// key, a planted canary) may appear in any job record, result or agent log
// line. This file sets the traps, runs the jobs and prints the table.

import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator } from "../helpers/coordinator.js";
import { startTamperProxy } from "../helpers/tamper.js";
import { failedWith, type Escape, type Fixture, type Seen } from "./escape-cases.js";
import * as E from "./escapes.js";
import { mark, pct, printGroup, type Row } from "./report.js";
import { Scope, sleep, stopAgent } from "./scope.js";

export { ESCAPES, EXTRA_ESCAPES } from "./escape-cases.js";

type Api = ReturnType<typeof submitter>;

export interface EscapeVerdict {
  name: string;
  outcome: string;
  contained: boolean;
  leaked: number;
  evidence: string;
}

export interface SandboxReport {
  verdicts: EscapeVerdict[];
  /** Secrets found in the agent's log lines. */
  logLeaks: number;
  /** The same agent process, after everything, completed a normal job. */
  stillServing: boolean;
  agentAlive: boolean;
}

async function listeners(scope: Scope): Promise<{ port: number; udpPort: number; counts: { tcp: number; udp: number } }> {
  const counts = { tcp: 0, udp: 0 };
  const tcp = createServer((socket) => {
    counts.tcp++;
    socket.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  scope.add(tcp, (s) => new Promise((r) => s.close(() => r(undefined))));
  const udp = createSocket("udp4");
  udp.on("message", () => counts.udp++);
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
  scope.add(udp, (s) => new Promise((r) => s.close(() => r(undefined))));
  return { port: (tcp.address() as { port: number }).port, udpPort: udp.address().port, counts };
}

function fixture(scope: Scope, port: number, udpPort: number, token: string): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "dist-escape-"));
  scope.add(dir, (d) => rmSync(d, { recursive: true, force: true }));
  const tokenFile = join(dir, "agent.env");
  writeFileSync(tokenFile, `DIST_AGENT_TOKEN=${token}\n`);
  const sshDir = join(dir, "home", ".ssh");
  mkdirSync(sshDir, { recursive: true });
  const sshKey = join(sshDir, "id_ed25519");
  const canary = `ssh-canary-${randomBytes(12).toString("hex")}`;
  writeFileSync(sshKey, `-----BEGIN OPENSSH PRIVATE KEY-----\n${canary}\n-----END OPENSSH PRIVATE KEY-----\n`);
  return {
    dir,
    tokenFile,
    sshDir,
    sshKey,
    canary,
    writePaths: [1, 2, 3, 4].map((i) => join(dir, `written-${i}`)),
    markers: [1, 2, 3, 4].map((i) => join(dir, `spawned-${i}`)),
    port,
    udpPort,
  };
}

/** Polls a job until it is done, failed or cancelled, or the deadline passes. */
async function untilFinal(api: Api, jobId: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const job = (await api.call("GET", `/v1/jobs/${jobId}`)).body;
    if (["done", "failed", "cancelled"].includes(job?.state)) return;
    await sleep(250);
  }
}

/** A job submitted, or the coordinator's refusal of it (only an input too deep to store may be refused). */
type Submitted = { batchId: string; jobId: string; refused?: undefined } | { refused: string; batchId?: undefined; jobId?: undefined };

async function submitOne(api: Api, url: string, token: string, source: string, input: unknown, timeoutMs: number): Promise<Submitted> {
  const deep = (input as { __deep?: number } | null)?.__deep;
  let sub: { status: number; body: any };
  if (deep !== undefined) {
    // Too deep for JSON.stringify on this side: the body is written as text.
    const text = `{"fn":${JSON.stringify(source)},"input":${"[".repeat(deep)}${"]".repeat(deep)},"queue":"escape","maxAttempts":1,"timeoutMs":${timeoutMs}}`;
    const res = await fetch(`${url}/v1/jobs`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: text });
    sub = { status: res.status, body: await res.json() };
    if (sub.status >= 400 && sub.status < 500) return { refused: `${sub.status} ${sub.body?.error?.code}` };
  } else sub = await api.call("POST", "/v1/jobs", { fn: source, input, queue: "escape", maxAttempts: 1, timeoutMs });
  if (sub.status !== 201) throw new Error(`submit: ${sub.status} ${JSON.stringify(sub.body)}`);
  return { batchId: sub.body.batchId, jobId: sub.body.jobIds[0] };
}

/** Runs the escapes on one agent (2 slots), judges each, checks the agent still serves; prints the table. */
export async function sandbox(o: { escapes: Escape[]; linger: boolean; timeoutMs: number }): Promise<SandboxReport> {
  const scope = new Scope();
  try {
    const coord = scope.add(await startCoordinator(), (c) => c.stop());
    const api = submitter(coord.url, coord.submitToken);
    const net = await listeners(scope);
    const fx = fixture(scope, net.port, net.udpPort, coord.agentToken);
    // The proxy only records: it is how the test learns the credential the agent was issued.
    const proxy = scope.add(await startTamperProxy(coord.url), (p) => p.close());
    const agent = scope.add(
      await startAgent({
        url: proxy.url,
        token: coord.agentToken,
        publicKey: coord.publicKey,
        concurrency: 2,
        name: "sandbox",
        queue: "escape",
        args: ["--max-memory-mb", "384", "--wait", "1"],
        env: { DIST_AGENT_TOKEN: coord.agentToken },
      }),
      stopAgent,
    );

    const jobs = await Promise.all(o.escapes.map((e) => submitOne(api, coord.url, coord.submitToken, e.source, e.input?.(fx) ?? null, e.timeoutMs ?? 8_000)));
    // Each job gets until the group's deadline to end; one that never does is judged as it stands.
    const deadline = Date.now() + o.timeoutMs;
    await Promise.all(jobs.map((j) => (j.jobId ? untilFinal(api, j.jobId, deadline) : undefined)));
    await sleep(300); // a connection the sandbox opened last must have reached the listener

    const planted: Array<{ jobId: string }> = [];
    const extra: EscapeVerdict[] = [];
    if (o.linger) {
      // Both slots planted (each plant holds its slot 500 ms), then both probed.
      const plants = await Promise.all([1, 2].map(() => submitOne(api, coord.url, coord.submitToken, E.PLANT, null, 8_000)));
      for (const p of plants) await api.collect(p.batchId!, o.timeoutMs);
      const probes = await Promise.all([1, 2].map(() => submitOne(api, coord.url, coord.submitToken, E.PROBE_PLANT, null, 8_000)));
      const values: unknown[] = [];
      for (const p of probes) values.push((await api.collect(p.batchId!, o.timeoutMs))[0]?.value);
      const clean = values.every((v) => (v as any)?.global === "undefined" && (v as any)?.patched === false);
      planted.push(...[...plants, ...probes].map((p) => ({ jobId: p.jobId! })));
      extra.push({ name: "linger into the next task in the same slot", outcome: "probed", contained: clean, leaked: 0, evidence: JSON.stringify(values) });
    }

    const normal = await submitOne(api, coord.url, coord.submitToken, "(x) => x * 2", 21, 8_000);
    const [normalResult] = await api.collect(normal.batchId!, o.timeoutMs);
    const agentAlive = agent.proc.exitCode === null && agent.proc.signalCode === null;

    const secrets = [coord.agentToken, coord.submitToken, coord.signingKey, ...proxy.credentials, fx.canary];
    const leaksIn = (text: string): number => secrets.filter((s) => s && text.includes(s)).length;
    const textOf = (v: unknown): string => {
      try {
        return JSON.stringify(v);
      } catch {
        return "[too deep to serialize]";
      }
    };
    const verdicts: EscapeVerdict[] = [];
    for (const [i, e] of o.escapes.entries()) {
      const sub = jobs[i]!;
      const job = sub.refused !== undefined ? { refused: sub.refused } : (await api.call("GET", `/v1/jobs/${sub.jobId}`)).body;
      const results = sub.refused !== undefined ? null : (await api.call("GET", `/v1/batches/${sub.batchId}/results`)).body;
      const probes = job?.state === "done" && job.value && typeof job.value === "object" ? job.value : {};
      const seen: Seen = { job, probes, tcpConnections: net.counts.tcp, udpMessages: net.counts.udp, agentLines: agent.lines, exists: existsSync };
      const judged = e.judge(seen, fx);
      const leaked = leaksIn(textOf(job) + textOf(results));
      verdicts.push({ name: e.name, outcome: failedWith(job), contained: judged.contained && leaked === 0, leaked, evidence: judged.evidence });
    }
    for (const p of planted) {
      const job = (await api.call("GET", `/v1/jobs/${p.jobId}`)).body;
      extra[0]!.leaked += leaksIn(textOf(job));
    }
    verdicts.push(...extra);
    const logLeaks = leaksIn(agent.lines.join("\n"));
    const report: SandboxReport = { verdicts, logLeaks, stillServing: normalResult?.ok === true && normalResult.value === 42, agentAlive };
    printGroup(`adversarial: sandbox escapes (${verdicts.length} jobs on one agent, 2 slots, --max-memory-mb 384)`, sandboxRows(report));
    return report;
  } finally {
    await scope.close();
  }
}

export function sandboxRows(r: SandboxReport): Row[] {
  const rows: Row[] = r.verdicts.map((v) => ({ case: v.name, outcome: v.outcome, contained: mark(v.contained), "secrets leaked": v.leaked, evidence: v.evidence.slice(0, 70) }));
  rows.push({ case: "agent log lines", outcome: "", contained: mark(r.logLeaks === 0), "secrets leaked": r.logLeaks, evidence: "" });
  rows.push({ case: "same agent, a normal job afterwards", outcome: r.stillServing ? "42" : "failed", contained: mark(r.stillServing && r.agentAlive), "secrets leaked": "", evidence: r.agentAlive ? "process alive" : "process gone" });
  const n = r.verdicts.length;
  rows.push({
    case: `all ${n} escapes`,
    outcome: "",
    contained: pct(r.verdicts.filter((v) => v.contained).length, n),
    "secrets leaked": r.verdicts.reduce((s, v) => s + v.leaked, 0) + r.logLeaks,
    evidence: "",
  });
  return rows;
}

