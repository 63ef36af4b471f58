// The fault-injection suite's judge: what happened to a batch, computed only
// from the coordinator's own records (every job with its attempt history,
// and the batch's completion stream) — never from what agents logged. Plus
// the one table format every fault case prints.

import { isDeepStrictEqual } from "node:util";

/** What audit needs of a client: submitter(url, token).call. */
export interface AuditApi {
  call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

export interface Audit {
  submitted: number;
  done: number;
  failed: number;
  cancelled: number;
  /** Jobs missing, not in a final state, or without an entry in the completion stream. */
  lost: number;
  /** Extra entries for a job in the completion stream, plus jobs with more than one `ok` attempt. */
  recordedTwice: number;
  /** Jobs that needed more than one attempt: evidence that the faults hit work in flight. */
  reattempted: number;
  /** Each a short sentence naming the job and what is wrong with its records. */
  inconsistent: string[];
}

const FINAL = new Set(["done", "failed", "cancelled"]);
const ENDED = new Set(["ok", "error", "expired", "rejected", "cancelled", "released"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET with a few retries: the coordinator may be coming back from an injected fault. */
async function get<T>(api: AuditApi, path: string): Promise<T> {
  let last = "";
  for (let i = 0; i < 10; i++) {
    try {
      const reply = await api.call<T>("GET", path);
      if (reply.status === 200) return reply.body;
      last = `${reply.status} ${JSON.stringify(reply.body)}`;
      if (reply.status < 500) break;
    } catch (err) {
      last = String(err);
    }
    await sleep(300);
  }
  throw new Error(`audit: GET ${path} failed: ${last}`);
}

async function allJobs(api: AuditApi, batchId: string): Promise<any[]> {
  const jobs: any[] = [];
  let after = -1;
  for (let page = 0; page < 10_000; page++) {
    const body = await get<{ jobs: any[]; next: number; more: boolean }>(api, `/v1/batches/${batchId}/jobs?after=${after}&limit=1000`);
    jobs.push(...body.jobs);
    if (!body.more || body.jobs.length === 0) return jobs;
    after = body.next;
  }
  throw new Error("audit: too many job pages");
}

async function allResults(api: AuditApi, batchId: string): Promise<any[]> {
  const results: any[] = [];
  let after = 0;
  for (let page = 0; page < 10_000; page++) {
    const body = await get<{ results: any[]; next: number }>(api, `/v1/batches/${batchId}/results?after=${after}&limit=1000&wait=0`);
    if (body.results.length === 0) return results;
    results.push(...body.results);
    after = body.next;
  }
  throw new Error("audit: too many result pages");
}

/**
 * Audits a batch that should be finished. `expected(index)` gives the value
 * job `index` must have produced (omit it to skip the value check).
 */
export async function auditBatch(
  api: AuditApi,
  batchId: string,
  expectedTotal: number,
  expected?: (index: number) => unknown,
): Promise<Audit> {
  const [jobs, results] = [await allJobs(api, batchId), await allResults(api, batchId)];
  const inconsistent: string[] = [];
  const note = (job: string, what: string): void => {
    if (inconsistent.length < 50) inconsistent.push(`${job}: ${what}`);
    else if (inconsistent.length === 50) inconsistent.push("… (more not shown)");
  };

  const entries = new Map<string, any[]>();
  let lastSeq = 0;
  for (const r of results) {
    if (!(r.seq > lastSeq)) note(r.jobId, `completion stream out of order (seq ${r.seq} after ${lastSeq})`);
    lastSeq = Math.max(lastSeq, r.seq);
    entries.set(r.jobId, [...(entries.get(r.jobId) ?? []), r]);
  }

  const audit: Audit = { submitted: expectedTotal, done: 0, failed: 0, cancelled: 0, lost: 0, recordedTwice: 0, reattempted: 0, inconsistent };
  const seenIndex = new Set<number>();
  for (const job of jobs) {
    const id: string = job.id;
    if (seenIndex.has(job.index)) note(id, `index ${job.index} listed twice`);
    seenIndex.add(job.index);
    if (job.state === "done") audit.done++;
    else if (job.state === "failed") audit.failed++;
    else if (job.state === "cancelled") audit.cancelled++;

    const mine = entries.get(id) ?? [];
    entries.delete(id);
    if (!FINAL.has(job.state) || mine.length === 0) audit.lost++;
    if (mine.length > 1) audit.recordedTwice += mine.length - 1;

    const history: any[] = job.history ?? [];
    if (history.length > 1) audit.reattempted++;
    const oks = history.filter((h) => h.outcome === "ok");
    if (oks.length > 1) audit.recordedTwice++;
    if (history.some((h, i) => h.attempt !== i + 1)) note(id, `attempt numbers are not 1..n: ${history.map((x) => x.attempt).join(",")}`);
    history.forEach((h, i) => {
      const last = i === history.length - 1;
      if (h.outcome === "running" && (!last || FINAL.has(job.state))) note(id, `attempt ${h.attempt} still running in a ${job.state} job`);
      if (ENDED.has(h.outcome) && h.endedAt === null) note(id, `attempt ${h.attempt} is ${h.outcome} but has no end time`);
    });
    if (job.attempts !== history.length) note(id, `attempts ${job.attempts} but ${history.length} in its history`);

    if (job.state === "done") {
      const ok = oks[0];
      if (!ok) note(id, "done without an ok attempt");
      else if (ok !== history.at(-1)) note(id, `ok attempt ${ok.attempt} is not the last (${history.length})`);
      if (job.ok !== true) note(id, "done but not ok");
      if (expected && !isDeepStrictEqual(job.value, expected(job.index))) {
        note(id, `value ${JSON.stringify(job.value)} ≠ expected ${JSON.stringify(expected(job.index))}`);
      }
      const entry = mine[0];
      if (entry && ok) {
        if (entry.attempt !== ok.attempt) note(id, `result entry says attempt ${entry.attempt}, history's ok is attempt ${ok.attempt}`);
        if (entry.agentId !== ok.agentId) note(id, `result entry says agent ${entry.agentId}, history's ok is ${ok.agentId}`);
      }
      if (entry && (entry.ok !== true || !isDeepStrictEqual(entry.value, job.value))) note(id, "result entry differs from the job's result");
    } else if (oks.length > 0) {
      note(id, `${job.state} job has an ok attempt`);
    }
  }
  // Jobs the listing does not show at all, and stream entries for jobs it does not know.
  audit.lost += Math.max(0, expectedTotal - jobs.length);
  for (const [jobId] of entries) note(jobId, "in the completion stream but not in the batch's jobs");
  if (jobs.length > expectedTotal) inconsistent.push(`batch lists ${jobs.length} jobs, ${expectedTotal} submitted`);
  return audit;
}

export type TableRow = Record<string, string | number>;

export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** The standard columns of a fault case's table, from an audit and its wall time. */
export function auditRow(audit: Audit, wallMs: number, extra: TableRow = {}): TableRow {
  return {
    submitted: audit.submitted,
    done: audit.done,
    failed: audit.failed,
    lost: audit.lost,
    "recorded twice": audit.recordedTwice,
    "wall time": formatMs(wallMs),
    "re-leased": audit.reattempted,
    ...extra,
  };
}

/** Formats one case as an aligned two-line text table under its name. */
export function formatTable(caseName: string, row: TableRow): string {
  const keys = Object.keys(row);
  const widths = keys.map((k) => Math.max(k.length, String(row[k]).length));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padStart(widths[i]!)).join(" | ") + " |";
  const rule = "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|";
  return [`${caseName}`, line(keys), rule, line(keys.map((k) => String(row[k])))].join("\n");
}

export function printTable(caseName: string, row: TableRow): void {
  console.log("\n" + formatTable(caseName, row) + "\n");
}
