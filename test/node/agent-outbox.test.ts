// The agent's results outbox on its own: nothing dropped while the coordinator
// is unreachable, a bound that stops new work, and a retry that news of the
// coordinator's return cuts short.
import { describe, expect, it } from "vitest";
import type { ResultsResponse, TaskResult } from "../../src/protocol/client.js";
import { AgentError } from "../../worker-agent/src/errors.js";
import { isRetryable } from "../../worker-agent/src/http.js";
import { ResultsOutbox } from "../../worker-agent/src/results-outbox.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const unavailable = () => new AgentError("unavailable", "the coordinator answered 503 unavailable", 503);
const result = (n: number): TaskResult => ({ leaseId: `q.lease-${n}`, ok: true, value: n });

/** An outbox whose coordinator is down until `up()`; records every request and every acknowledged result. */
function harness(limits?: { maxResults: number; maxBytes: number }) {
  let reachable = false;
  const requests: string[][] = [];
  const acknowledged: string[] = [];
  const fatal: unknown[] = [];
  const stop = new AbortController();
  const outbox = new ResultsOutbox({
    send: async (results) => {
      requests.push(results.map((r) => r.leaseId));
      if (!reachable) throw unavailable();
      return { accepted: results.map((r) => r.leaseId), stale: [] } satisfies ResultsResponse;
    },
    retry: { signal: stop.signal, isRetryable },
    onSent: (results) => acknowledged.push(...results.map((r) => r.leaseId)),
    onFatal: (err) => fatal.push(err),
    limits,
  });
  return { outbox, requests, acknowledged, fatal, stop, up: () => (reachable = true) };
}

describe("results outbox", () => {
  it("keeps every result while the coordinator is unreachable and delivers each exactly once, in order, when it is back", async () => {
    const h = harness();
    for (let n = 0; n < 5; n++) h.outbox.add(result(n), 10);
    await sleep(300);
    expect(h.outbox.size).toBe(5);
    expect(h.acknowledged).toEqual([]);
    h.up();
    h.outbox.nudge();
    await h.outbox.settled();
    await sleep(10);
    expect(h.acknowledged).toEqual(["q.lease-0", "q.lease-1", "q.lease-2", "q.lease-3", "q.lease-4"]);
    expect(h.outbox.size).toBe(0);
    expect(h.fatal).toEqual([]);
    h.stop.abort();
  });

  it("is full at its bound in results or bytes, and no longer once the results are delivered", async () => {
    const byCount = harness({ maxResults: 3, maxBytes: 1e9 });
    byCount.outbox.add(result(1));
    byCount.outbox.add(result(2));
    expect(byCount.outbox.full).toBe(false);
    byCount.outbox.add(result(3));
    expect(byCount.outbox.full).toBe(true);

    const byBytes = harness({ maxResults: 1000, maxBytes: 100_000 });
    byBytes.outbox.add(result(1), 60_000);
    expect(byBytes.outbox.full).toBe(false);
    byBytes.outbox.add(result(2), 60_000);
    expect(byBytes.outbox.full).toBe(true);

    for (const h of [byCount, byBytes]) {
      h.up();
      h.outbox.nudge();
      await h.outbox.settled();
      await sleep(10);
      expect(h.outbox.full).toBe(false);
      expect(h.outbox.size).toBe(0);
      h.stop.abort();
    }
    expect(byCount.acknowledged).toHaveLength(3);
    expect(byBytes.acknowledged).toHaveLength(2);
  });

  it("a nudge retries at once instead of waiting out a long backoff", async () => {
    const h = harness();
    h.outbox.add(result(1));
    // Let the backoff grow: after a few failures the next wait is up to seconds.
    while (h.requests.length < 6) await sleep(20);
    h.up();
    const t0 = Date.now();
    h.outbox.nudge();
    await h.outbox.settled();
    expect(Date.now() - t0).toBeLessThan(200);
    expect(h.acknowledged).toEqual(["q.lease-1"]);
    h.stop.abort();
  });

  it("a refused token is fatal and not retried", async () => {
    const fatal: unknown[] = [];
    let requests = 0;
    const outbox = new ResultsOutbox({
      send: async () => {
        requests++;
        throw new AgentError("unauthorized", "the coordinator refused the agent token (401)", 401);
      },
      retry: { signal: new AbortController().signal, isRetryable },
      onSent: () => {},
      onFatal: (err) => fatal.push(err),
    });
    outbox.add(result(1));
    await outbox.settled();
    expect(requests).toBe(1);
    expect(fatal).toHaveLength(1);
    expect(outbox.size).toBe(1); // kept, not dropped: the agent stops and its lease expires
  });
});
