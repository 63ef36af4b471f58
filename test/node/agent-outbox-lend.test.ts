// The results outbox lending results to the agent's exchange: a lent result
// is sent by exactly one request, comes back to the outbox when that request
// fails, and is sent alone only when no exchange picked it up in time.
import { describe, expect, it } from "vitest";
import type { ResultsResponse, TaskResult } from "../../src/protocol/client.js";
import { isRetryable } from "../../worker-agent/src/http.js";
import { ResultsOutbox } from "../../worker-agent/src/results-outbox.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const result = (n: number): TaskResult => ({ leaseId: `q.lease-${n}`, ok: true, value: n });

function harness(lingerMs: number) {
  const requests: string[][] = [];
  const acknowledged: string[] = [];
  const stop = new AbortController();
  const outbox = new ResultsOutbox({
    send: async (results) => {
      requests.push(results.map((r) => r.leaseId));
      return { accepted: results.map((r) => r.leaseId), stale: [] } satisfies ResultsResponse;
    },
    retry: { signal: stop.signal, isRetryable },
    onSent: (results) => acknowledged.push(...results.map((r) => r.leaseId)),
    onFatal: () => {},
    lingerMs,
  });
  return { outbox, requests, acknowledged, stop };
}

describe("results outbox lending to the exchange", () => {
  it("a result lent to an exchange is not sent alone, and is acknowledged once the exchange is answered", async () => {
    const h = harness(30);
    h.outbox.add(result(1));
    h.outbox.add(result(2));
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

  it("results of a failed exchange go back to the outbox, which sends them itself", async () => {
    const h = harness(30);
    h.outbox.add(result(1));
    const lent = h.outbox.lend()!;
    h.outbox.add(result(2));
    lent.failed();
    await h.outbox.settled();
    await sleep(60);
    expect(h.acknowledged.sort()).toEqual(["q.lease-1", "q.lease-2"]);
    expect(h.requests.flat().sort()).toEqual(["q.lease-1", "q.lease-2"]);
    expect(h.outbox.size).toBe(0);
  });

  it("a result no exchange picks up is sent alone after the linger", async () => {
    const h = harness(30);
    h.outbox.add(result(1));
    await sleep(10);
    expect(h.requests).toEqual([]);
    await sleep(60);
    expect(h.requests).toEqual([["q.lease-1"]]);
    expect(h.outbox.lend()).toBeNull();
  });
});
