// The results outbox batching results and lending them to the agent's
// exchange: a lent result is sent by exactly one request and comes back to
// the outbox when that request fails; a result goes alone only when no
// exchange will carry it, and then once it is ripe: a batch's worth are
// waiting, nothing else is running, or the oldest has lingered long enough.
import { describe, expect, it } from "vitest";
import type { ResultsResponse, TaskResult } from "../../src/protocol/client.js";
import { isRetryable } from "../../worker-agent/src/http.js";
import { ResultsOutbox } from "../../worker-agent/src/results-outbox.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const result = (n: number): TaskResult => ({ leaseId: `q.lease-${n}`, ok: true, value: n });

function harness(opts: { lingerMs: number; batchTarget?: number; carried?: boolean; othersRunning?: boolean }) {
  const requests: string[][] = [];
  const acknowledged: string[] = [];
  const stop = new AbortController();
  const state = { carried: opts.carried ?? false, othersRunning: opts.othersRunning ?? false };
  const outbox = new ResultsOutbox({
    send: async (results) => {
      requests.push(results.map((r) => r.leaseId));
      return { accepted: results.map((r) => r.leaseId), stale: [] } satisfies ResultsResponse;
    },
    retry: { signal: stop.signal, isRetryable },
    onSent: (results) => acknowledged.push(...results.map((r) => r.leaseId)),
    onFatal: () => {},
    lingerMs: opts.lingerMs,
    batchTarget: () => opts.batchTarget ?? 1,
    othersRunning: () => state.othersRunning,
    carried: () => state.carried,
  });
  return { outbox, requests, acknowledged, stop, state };
}

describe("results outbox lending to the exchange", () => {
  it("a result lent to an exchange is not sent alone, and is acknowledged once the exchange is answered", async () => {
    const h = harness({ lingerMs: 30, carried: true });
    h.outbox.add(result(1));
    h.outbox.add(result(2));
    expect(h.outbox.ripe).toBe(true); // nothing else running
    const lent = h.outbox.lend()!;
    expect(lent.results.map((r) => r.leaseId)).toEqual(["q.lease-1", "q.lease-2"]);
    expect(h.outbox.size).toBe(2); // lent results still count until answered
    expect(h.outbox.lend()).toBeNull();
    await sleep(80);
    expect(h.requests).toEqual([]);
    lent.sent({ accepted: ["q.lease-1", "q.lease-2"], stale: [] });
    lent.sent({ accepted: [], stale: [] }); // a loan ends once
    expect(h.acknowledged).toEqual(["q.lease-1", "q.lease-2"]);
    expect(h.outbox.size).toBe(0);
  });

  it("results of a failed exchange go back to the outbox, which sends them itself once no exchange carries them", async () => {
    const h = harness({ lingerMs: 30, carried: true });
    h.outbox.add(result(1));
    const lent = h.outbox.lend()!;
    h.outbox.add(result(2));
    lent.failed();
    await sleep(60);
    expect(h.requests).toEqual([]); // still the exchange's to carry
    h.state.carried = false; // say, the coordinator became unreachable
    h.outbox.schedule();
    await h.outbox.settled();
    expect(h.acknowledged.sort()).toEqual(["q.lease-1", "q.lease-2"]);
    expect(h.requests.flat().sort()).toEqual(["q.lease-1", "q.lease-2"]);
    expect(h.outbox.size).toBe(0);
  });

  it("while an exchange is parked, a result with others still running lingers, then goes alone", async () => {
    const h = harness({ lingerMs: 30, batchTarget: 10, othersRunning: true });
    h.outbox.add(result(1));
    expect(h.outbox.ripe).toBe(false);
    await sleep(10);
    expect(h.requests).toEqual([]);
    await sleep(60);
    expect(h.requests).toEqual([["q.lease-1"]]);
    expect(h.outbox.lend()).toBeNull();
  });

  it("a batch's worth of results goes at once, as one request", async () => {
    const h = harness({ lingerMs: 10_000, batchTarget: 3, othersRunning: true });
    h.outbox.add(result(1));
    h.outbox.add(result(2));
    await sleep(20);
    expect(h.requests).toEqual([]);
    h.outbox.add(result(3));
    await h.outbox.settled();
    expect(h.requests).toEqual([["q.lease-1", "q.lease-2", "q.lease-3"]]);
  });

  it("the last running task's result goes at once: waiting would only add latency", async () => {
    const h = harness({ lingerMs: 10_000, batchTarget: 64, othersRunning: true });
    h.outbox.add(result(1));
    await sleep(20);
    expect(h.requests).toEqual([]);
    h.state.othersRunning = false;
    h.outbox.add(result(2));
    await h.outbox.settled();
    expect(h.requests).toEqual([["q.lease-1", "q.lease-2"]]);
  });
});
