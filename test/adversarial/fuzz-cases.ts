// The fuzzing group: thousands of malformed and hostile requests over every
// route (test/helpers/fuzz.ts makes them), sent at a bounded concurrency to a
// real coordinator while a known batch sits in a queue the fuzzer also polls
// (so fuzzed agents steal, confirm, fail and complete some of its tasks).
// Verdicts: no answer ≥ 500, every error a JSON {error:{code,message}}
// without stack text, no secret echoed; and afterwards the queue's
// invariants, from the coordinator's own records: the known batch, run to
// the end by a real agent, lost nothing and recorded nothing twice, and every
// batch the fuzzer managed to create has counts that add up to its total.

import { auditBatch } from "../helpers/audit.js";
import { startAgent } from "../helpers/agent.js";
import { submitter } from "../helpers/client.js";
import { startCoordinator } from "../helpers/coordinator.js";
import { build, judge, plans, type Credentials, type Harvest } from "../helpers/fuzz.js";
import { undocumentedGaps } from "./authz-cases.js";
import { docOf, ROUTES } from "./fuzz-routes.js";
import { asAgent, enroll, jsonOf, rawClient } from "./http.js";
import { mark, printGroup, type Row } from "./report.js";
import { Scope, stopAgent } from "./scope.js";
import { judgeTargeted, TARGETED, type TargetedVerdict } from "./targeted.js";

export interface FuzzOptions {
  requests: number;
  seed: number;
  concurrency: number;
  /** Jobs in the known batch audited afterwards. */
  auditJobs: number;
  timeoutMs: number;
}

interface RouteStats {
  requests: number;
  ok2xx: number;
  err4xx: number;
  err5xx: number;
  abandoned: number;
  /** Sent again on a fresh connection after the server reset the first (see http.ts). */
  resent: number;
  problems: number;
}

export interface Problem {
  /** plans(requests, seed)[index] is the request again. */
  index: number;
  route: string;
  request: string;
  status: number;
  problem: string;
  answer: string;
}

export interface Invariant {
  check: string;
  expected: string;
  got: string;
  ok: boolean;
}

export interface FuzzReport {
  seed: number;
  sent: number;
  answersAtLeast500: number;
  problems: Problem[];
  problemCount: number;
  byRoute: Map<string, RouteStats>;
  byStatus: Map<number, { count: number; codes: Map<string, number> }>;
  invariants: Invariant[];
  targeted: TargetedVerdict[];
  /** Routes GET /v1/openapi.json documents that the fuzzer has no template for (null: no document). */
  uncovered: string[] | null;
  wallMs: number;
}

const SQUARE = "(n) => n * n";
const POOL_CAP = 5_000;
const addCapped = (list: string[], ...items: string[]): void => {
  for (const item of items) if (list.length < POOL_CAP && !list.includes(item)) list.push(item);
};

/** Learns live ids from the fuzzer's own successful requests. */
function harvest(pools: Omit<Harvest, "pick">, label: string, status: number, body: any): void {
  if (!body) return;
  if (label === "POST /v1/jobs" && status === 201) {
    addCapped(pools.batches, body.batchId);
    addCapped(pools.jobs, ...(body.jobIds ?? []).slice(0, 3));
    addCapped(pools.fns, body.fnHash);
  } else if (label === "POST /v1/functions" && status === 201) addCapped(pools.fns, body.fnHash);
  else if (label === "POST /v1/agent/enroll" && status === 201) addCapped(pools.agents, body.agentId);
  else if ((label === "POST /v1/agent/poll" || label === "POST /v1/agent/exchange") && status === 200) {
    try {
      addCapped(pools.leases, ...JSON.parse(body.payload ?? body.envelope?.payload).tasks.map((t: { leaseId: string }) => t.leaseId));
    } catch {
      /* not an envelope */
    }
  }
}

export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  const scope = new Scope();
  try {
    const coord = scope.add(await startCoordinator({ vars: { DELIVERY_LEASE_MS: "2000" } }), (c) => c.stop());
    const api = submitter(coord.url, coord.submitToken);
    const setup = scope.add(rawClient(coord.url, { maxSockets: 4 }), (c) => c.close());
    const client = scope.add(rawClient(coord.url, { maxSockets: o.concurrency }), (c) => c.close());
    const agents = [await enroll(setup, coord.agentToken, "fuzz-a"), await enroll(setup, coord.agentToken, "fuzz-b"), await enroll(setup, coord.agentToken, "fuzz-c")];
    const revoked = await enroll(setup, coord.agentToken, "fuzz-revoked");
    if ((await api.call("DELETE", `/v1/agents/${revoked.agentId}`)).status !== 200) throw new Error("revoke failed");
    const creds: Credentials = { submit: coord.submitToken, shared: coord.agentToken, agents, revoked };
    const secrets = [coord.submitToken, coord.agentToken, coord.signingKey];

    const known = await api.call("POST", "/v1/jobs", { fn: SQUARE, inputs: Array.from({ length: o.auditJobs }, (_, i) => i), queue: "audit", timeoutMs: 2_000, graceMs: 1_000, maxAttempts: 10 });
    if (known.status !== 201) throw new Error(`known batch: ${known.status}`);

    const pools = { batches: [] as string[], jobs: [] as string[], leases: [] as string[], agents: [] as string[], fns: [known.body.fnHash] as string[] };
    const report: FuzzReport = { seed: o.seed, sent: 0, answersAtLeast500: 0, problems: [], problemCount: 0, byRoute: new Map(), byStatus: new Map(), invariants: [], targeted: [], uncovered: null, wallMs: 0 };
    for (const r of ROUTES) report.byRoute.set(r.label, { requests: 0, ok2xx: 0, err4xx: 0, err5xx: 0, abandoned: 0, resent: 0, problems: 0 });

    report.uncovered = await undocumentedGaps(setup, ROUTES.map(docOf).filter((d): d is string => d !== undefined));
    // The targeted requests first, on a client of their own.
    for (const t of TARGETED) report.targeted.push(judgeTargeted(t, await t.run({ client: setup, submit: coord.submitToken, shared: coord.agentToken, agent: agents[2]! })));

    const all = plans(o.requests, o.seed, ROUTES);
    const started = Date.now();
    const deadline = started + o.timeoutMs;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < all.length && Date.now() < deadline) {
        const index = next++;
        const plan = all[index]!;
        const h: Harvest = { ...pools, pick: (list, fallback) => (list.length ? list[plan.pick % list.length]! : fallback) };
        const built = build(plan, ROUTES, creds, h);
        const reply = await client.send({ method: built.method, path: built.path, headers: built.headers, body: built.body, timeoutMs: built.route.longPoll ? 2_000 : 30_000 });
        report.sent++;
        const stats = report.byRoute.get(built.route.label)!;
        stats.requests++;
        if (reply.status >= 200 && reply.status < 300) stats.ok2xx++;
        else if (reply.status >= 400 && reply.status < 500) stats.err4xx++;
        else if (reply.status >= 500) stats.err5xx++;
        if (reply.status === 0 && reply.error === "timeout" && built.route.longPoll) stats.abandoned++;
        if (reply.resent) stats.resent++;
        if (reply.status >= 500) report.answersAtLeast500++;
        const body = jsonOf(reply);
        const byStatus = report.byStatus.get(reply.status) ?? { count: 0, codes: new Map<string, number>() };
        byStatus.count++;
        const code = typeof body?.error?.code === "string" ? body.error.code : reply.status === 0 ? (reply.error ?? "?") : "";
        if (code) byStatus.codes.set(code, (byStatus.codes.get(code) ?? 0) + 1);
        report.byStatus.set(reply.status, byStatus);
        const problems = judge(built, reply, secrets);
        if (problems.length) {
          stats.problems++;
          report.problemCount++;
          if (report.problems.length < 40) {
            report.problems.push({
              index,
              route: built.route.label,
              request: `${built.method} ${built.path.slice(0, 120)} auth=${(built.headers.authorization ?? "none").split(" ")[0]} body=${built.body ? built.body.toString("utf8", 0, 160) : "none"}${built.body && built.body.length > 160 ? `… (${built.body.length} bytes)` : ""}`,
              status: reply.status,
              problem: problems.join("; "),
              answer: `${reply.resent ? "(resent after a keep-alive reset) " : ""}${Math.round(reply.ms)} ms ${reply.text.slice(0, 200)}`,
            });
          }
        }
        harvest(pools, built.route.label, reply.status, body);
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    report.wallMs = Date.now() - started;

    report.invariants = await invariants(scope, coord, api, setup, creds, known.body, o, pools.batches);
    printFuzzTables(report);
    return report;
  } finally {
    await scope.close();
  }
}

async function invariants(
  scope: Scope,
  coord: Awaited<ReturnType<typeof startCoordinator>>,
  api: ReturnType<typeof submitter>,
  setup: ReturnType<typeof rawClient>,
  creds: Credentials,
  known: { batchId: string; jobIds: string[] },
  o: FuzzOptions,
  batches: string[],
): Promise<Invariant[]> {
  const out: Invariant[] = [];
  const check = (name: string, expected: string, got: string, ok: boolean) => out.push({ check: name, expected, got, ok });

  // The known batch, finished by a real agent whatever the fuzzer did to it.
  const agent = scope.add(
    await startAgent({ url: coord.url, token: coord.agentToken, publicKey: coord.publicKey, concurrency: 2, name: "auditor", queue: "audit" }),
    stopAgent,
  );
  let finished = true;
  try {
    await api.collect(known.batchId, o.timeoutMs);
  } catch {
    finished = false;
  }
  const audit = await auditBatch(api, known.batchId, o.auditJobs);
  check("known batch finishes", `${o.auditJobs} in a final state`, `${audit.done} done, ${audit.failed} failed, ${audit.cancelled} cancelled${finished ? "" : " (timed out)"}`, finished && audit.done + audit.failed + audit.cancelled === o.auditJobs);
  check("known batch: lost", "0", String(audit.lost), audit.lost === 0);
  check("known batch: recorded twice", "0", String(audit.recordedTwice), audit.recordedTwice === 0);
  check("known batch: records consistent", "none inconsistent", audit.inconsistent.length ? audit.inconsistent.slice(0, 2).join(" / ") : "none", audit.inconsistent.length === 0);
  let byAgent = 0;
  let wrong = 0;
  let byFuzzer = 0;
  let touched = 0;
  for (let after = -1, page = 0; page < 100; page++) {
    const reply = (await api.call("GET", `/v1/batches/${known.batchId}/jobs?after=${after}&limit=1000`)).body;
    for (const job of reply.jobs) {
      if (job.history.some((h: any) => h.agentId !== agent.agentId)) touched++;
      if (job.state !== "done") continue;
      const ok = job.history.find((h: any) => h.outcome === "ok");
      if (ok?.agentId === agent.agentId) {
        byAgent++;
        if (job.value !== job.index * job.index) wrong++;
      } else byFuzzer++;
    }
    if (!reply.more) break;
    after = reply.next;
  }
  check("known batch: values from the real agent", "all n²", `${byAgent - wrong}/${byAgent} right; fuzzed agents leased ${touched}, completed ${byFuzzer}`, wrong === 0 && byAgent > 0);

  // Every batch the fuzzer created: counts by state add up to the total.
  let consistent = 0;
  const bad: string[] = [];
  for (const id of batches.slice(0, 1_000)) {
    const b = (await api.call("GET", `/v1/batches/${id}`)).body;
    const sum = Object.values<number>(b?.counts ?? {}).reduce((s, n) => s + n, 0);
    const open = (b?.counts?.queued ?? 0) + (b?.counts?.leased ?? 0);
    if (b && b.total >= 1 && sum === b.total && b.done === (open === 0)) consistent++;
    else if (bad.length < 3) bad.push(`${id}: ${JSON.stringify(b).slice(0, 160)}`);
  }
  const n = Math.min(batches.length, 1_000);
  check("fuzzer's batches: counts add up to total", `${n}/${n}`, bad.length ? `${consistent}/${n}: ${bad.join(" / ")}` : `${consistent}/${n}`, consistent === n);

  // Nothing the fuzzer sent polluted a prototype: empty bodies are still refused.
  const empty = await api.call("POST", "/v1/jobs", {});
  const emptyPoll = await asAgent(setup, creds.agents[0]!)("POST", "/v1/agent/poll", {});
  const landing = await api.call("GET", "/");
  check("no prototype pollution", "{} refused 400 twice, GET / 200", `${empty.status}, ${emptyPoll.status}, ${landing.status}`, empty.status === 400 && emptyPoll.status === 400 && landing.status === 200);
  return out;
}

export function printFuzzTables(r: FuzzReport): void {
  printGroup(
    `adversarial: fuzzer, ${r.targeted.length} targeted hostile requests`,
    [...r.targeted.map((t) => ({ request: t.name, "statuses (in order)": t.statuses, "as required": mark(t.ok), problem: t.detail })), { request: `all ${r.targeted.length}`, "statuses (in order)": "", "as required": `${r.targeted.filter((t) => t.ok).length}/${r.targeted.length}`, problem: "" }],
  );
  const rows: Row[] = [...r.byRoute].map(([route, s]) => ({ route, requests: s.requests, "2xx": s.ok2xx, "4xx": s.err4xx, "≥500": s.err5xx, "abandoned long-polls": s.abandoned, "resent after reset": s.resent, "bad answers": s.problems }));
  const total = (k: keyof RouteStats) => [...r.byRoute.values()].reduce((n, s) => n + s[k], 0);
  rows.push({ route: `all routes (seed ${r.seed}, ${(r.sent / (r.wallMs / 1000)).toFixed(0)} req/s)`, requests: r.sent, "2xx": total("ok2xx"), "4xx": total("err4xx"), "≥500": total("err5xx"), "abandoned long-polls": total("abandoned"), "resent after reset": total("resent"), "bad answers": total("problems") });
  printGroup(`adversarial: fuzzer, requests per route (${r.sent} requests; documented routes without a template: ${r.uncovered === null ? "no document" : r.uncovered.length ? r.uncovered.join(", ") : "none"})`, rows);
  const statuses: Row[] = [...r.byStatus]
    .sort(([a], [b]) => a - b)
    .map(([status, s]) => ({
      status: status === 0 ? "no answer" : status,
      count: s.count,
      "most frequent codes": [...s.codes].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c, n]) => `${c} ${n}`).join(", "),
    }));
  printGroup("adversarial: fuzzer, status histogram", statuses);
  printGroup("adversarial: fuzzer, queue invariants afterwards", r.invariants.map((i) => ({ check: i.check, expected: i.expected, got: i.got, held: mark(i.ok) })));
  if (r.problems.length) {
    console.log(`fuzzer: first bad answers (replay one with plans(${r.sent}, ${r.seed})[#]):\n  ${r.problems.map((p) => `#${p.index} [${p.status}] ${p.problem}: ${p.request} → ${p.answer}`).join("\n  ")}`);
  }
}
