// The fault-injection suite in small (the full one is `npm run test:faults`,
// test/faults/): agents SIGKILLed mid-batch, the coordinator process killed
// and restarted on its persisted state, a chaos proxy, a vanished poller and
// a restarted queue object. Each case prints its table; each must lose
// nothing and record nothing twice, judged from the coordinator's records.
import { afterAll, describe, expect, it } from "vitest";
import { auditBatch, type AuditApi } from "../helpers/audit.js";
import { agentKills, chaosProxy, coordinatorRestarts, vanishedPoller, waitersLost } from "../faults/cases.js";
import { closeAllScopes } from "../faults/harness.js";

afterAll(closeAllScopes);

const clean = { failed: 0, lost: 0, recordedTwice: 0 };

describe.sequential("faults, small", () => {
  it("600 jobs on 3 agents while agents are SIGKILLed and restarted 3 times and one is frozen past its leases: 0 lost, 0 recorded twice", async () => {
    const r = await agentKills({ jobs: 600, agents: 3, concurrency: 2, kills: 3, killEveryMs: [200, 400], freezes: 1, freezeMs: 4_000, timeoutMs: 40_000 });
    expect(r.kills).toBe(3);
    expect(r.freezes).toBe(1);
    expect(r.audit.inconsistent).toEqual([]);
    expect(r.audit).toMatchObject({ submitted: 600, done: 600, ...clean });
  }, 60_000);

  it("the coordinator process SIGKILLed and restarted on its persisted state mid-batch: 0 lost, 0 recorded twice", async () => {
    const r = await coordinatorRestarts({ jobs: 600, agents: 2, concurrency: 2, restarts: 1, downMs: 500, timeoutMs: 40_000 });
    expect(r.restarts).toBe(1);
    expect(r.audit.inconsistent).toEqual([]);
    expect(r.audit).toMatchObject({ submitted: 600, done: 600, ...clean });
  }, 60_000);

  it("300 jobs through a proxy that drops, delays and duplicates agent traffic: 0 lost, 0 recorded twice", async () => {
    const r = await chaosProxy({
      jobs: 300,
      agents: 2,
      concurrency: 2,
      chaos: { seed: 3, dropRequest: 0.05, dropResponse: 0.05, delay: 0.2, maxDelayMs: 100, duplicateResults: 0.5, stallResults: 0.006, stallMs: 4_000 },
      timeoutMs: 40_000,
    });
    expect(r.counts.droppedResponses + r.counts.droppedRequests).toBeGreaterThan(0);
    expect(r.counts.duplicatedResults).toBeGreaterThan(0);
    expect(r.counts.answeredStale).toBeGreaterThan(0);
    expect(r.audit.inconsistent).toEqual([]);
    expect(r.audit).toMatchObject({ submitted: 300, done: 300, ...clean });
  }, 60_000);

  it("a task handed to a vanished poller is done by another agent within the delivery lease (3 s here) + 2 s", async () => {
    const r = await vanishedPoller({ deliveryLeaseMs: 3_000, timeoutMs: 20_000 });
    expect(r.ghostHadIt).toBe(true);
    expect(r.doneBy).toBe(r.agentId);
    expect(r.rescueMs).toBeLessThanOrEqual(5_000);
    expect(r.audit).toMatchObject({ submitted: 1, done: 1, ...clean, inconsistent: [] });
  }, 30_000);

  it("the queue object restarted with agents and a submitter parked on it: both recover by themselves", async () => {
    const r = await waitersLost({ rounds: 2, jobsPerRound: 100, agents: 2, concurrency: 2, timeoutMs: 20_000 });
    expect(r.parkedWaiter503s).toBeGreaterThanOrEqual(2);
    expect(r.worstFirstResultMs).toBeLessThan(5_000);
    expect(r.audit.inconsistent).toEqual([]);
    expect(r.audit).toMatchObject({ submitted: 202, done: 202, ...clean });
  }, 40_000);
});

describe("the audit itself", () => {
  // A coordinator's answers, made up: each job i is done with value i*i by one ok attempt, unless changed.
  const ok = (attempt: number) => ({ attempt, agentId: "a", leasedAt: 1, endedAt: 2, outcome: "ok", agentHeld: 1 });
  const expired = (attempt: number) => ({ attempt, agentId: "a", leasedAt: 1, endedAt: 2, outcome: "expired", agentHeld: 1 });
  const job = (i: number, over: Record<string, unknown> = {}) => ({ id: `b.${i}`, index: i, state: "done", ok: true, value: i * i, attempts: 1, history: [ok(1)], ...over });
  const entry = (seq: number, i: number, over: Record<string, unknown> = {}) => ({ seq, jobId: `b.${i}`, index: i, ok: true, value: i * i, agentId: "a", attempt: 1, ...over });
  function fake(jobs: any[], results: any[]): AuditApi {
    return {
      call: async (_method: string, path: string) => {
        const after = Number(/after=(-?\d+)/.exec(path)![1]);
        if (path.includes("/jobs?")) return { status: 200, body: { jobs: after === -1 ? jobs : [], next: jobs.length - 1, more: false } as any };
        const page = results.filter((r) => r.seq > after);
        return { status: 200, body: { results: page, next: page.at(-1)?.seq ?? after, done: true } as any };
      },
    };
  }
  const sq = (i: number) => i * i;

  it("finds nothing wrong with a clean batch", async () => {
    const a = await auditBatch(fake([job(0), job(1)], [entry(1, 1), entry(2, 0)]), "b", 2, sq);
    expect(a).toEqual({ submitted: 2, done: 2, failed: 0, cancelled: 0, lost: 0, recordedTwice: 0, reattempted: 0, inconsistent: [] });
  });

  it("counts a job twice in the completion stream, or with two ok attempts, as recorded twice", async () => {
    const twoOks = job(1, { attempts: 2, history: [ok(1), ok(2)] });
    const a = await auditBatch(fake([job(0), twoOks], [entry(1, 0), entry(2, 1, { attempt: 2 }), entry(3, 0)]), "b", 2, sq);
    expect(a.recordedTwice).toBe(2);
    expect(a.inconsistent.join()).toMatch(/ok attempt 1 is not the last/);
  });

  it("counts unfinished jobs, jobs without a result entry and jobs missing from the listing as lost", async () => {
    const queued = job(1, { state: "queued", ok: undefined, value: undefined, attempts: 1, history: [expired(1)] });
    const a = await auditBatch(fake([job(0), queued, job(2)], [entry(1, 0)]), "b", 4, sq);
    expect(a.lost).toBe(3);
    expect(a.reattempted).toBe(0);
  });

  it("flags broken attempt numbering, a result entry naming another attempt, and a wrong value", async () => {
    const gap = job(0, { attempts: 2, history: [expired(1), ok(3)] });
    const wrong = job(1, { value: 2 });
    const a = await auditBatch(fake([gap, wrong], [entry(1, 0, { attempt: 2 }), entry(2, 1, { value: 2 })]), "b", 2, sq);
    expect(a.inconsistent.join("\n")).toMatch(/attempt numbers are not 1..n: 1,3/);
    expect(a.inconsistent.join("\n")).toMatch(/result entry says attempt 2, history's ok is attempt 3/);
    expect(a.inconsistent.join("\n")).toMatch(/value 2 ≠ expected 1/);
    expect(a).toMatchObject({ lost: 0, recordedTwice: 0, reattempted: 1 });
  });
});
