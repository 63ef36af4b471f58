// The agent's heartbeats on their own: accepted tasks are confirmed at once
// in one request (after a short window that lets short tasks skip it), a
// failed confirmation is retried (a regular heartbeat is not), and answers
// naming cancelled or stale leases abort those tasks.
import { describe, expect, it } from "vitest";
import type { HeartbeatResponse } from "../../src/protocol/client.js";
import { AgentError } from "../../worker-agent/src/errors.js";
import { confirmDelayFor, Heartbeats } from "../../worker-agent/src/heartbeat.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function harness(opts: {
  intervalMs: number;
  confirmDelayMs?: number;
  running?: string[];
  held?: Set<string>;
  failFirst?: number;
  answer?: (ids: string[]) => Partial<HeartbeatResponse>;
}) {
  const stop = new AbortController();
  const requests: Array<{ at: number; ids: string[] }> = [];
  const aborted: string[] = [];
  const errors: unknown[] = [];
  let failures = opts.failFirst ?? 0;
  const t0 = Date.now();
  const beats = new Heartbeats({
    intervalMs: opts.intervalMs,
    confirmDelayMs: opts.confirmDelayMs ?? 0,
    signal: stop.signal,
    running: () => opts.running ?? [],
    holds: (id) => opts.held?.has(id) ?? true,
    send: async (ids) => {
      requests.push({ at: Date.now() - t0, ids });
      if (failures-- > 0) throw new AgentError("unavailable", "503", 503);
      return { active: ids, cancelled: [], stale: [], ...opts.answer?.(ids) };
    },
    onAbort: (id) => aborted.push(id),
    onAnswer: () => {},
    onError: (err) => errors.push(err),
  });
  const done = beats.run();
  return { beats, requests, aborted, errors, end: async () => (stop.abort(), await done) };
}

describe("heartbeats", () => {
  it("an accepted envelope's tasks are confirmed in one request at once, not at the next regular heartbeat", async () => {
    const h = harness({ intervalMs: 60_000 });
    h.beats.confirm(["q.a", "q.b", "q.c"]);
    expect(await h.beats.confirmed(1_000)).toBe(true);
    expect(h.requests).toHaveLength(1);
    expect(h.requests[0]!.ids).toEqual(["q.a", "q.b", "q.c"]);
    expect(h.requests[0]!.at).toBeLessThan(100);
    await sleep(200);
    expect(h.requests).toHaveLength(1); // nothing more until the interval
    await h.end();
  });

  it("within the confirmation window envelopes share one request, and a task whose result was acknowledged meanwhile is not confirmed", async () => {
    const held = new Set(["q.fast", "q.slow"]);
    const h = harness({ intervalMs: 60_000, confirmDelayMs: 200, held });
    h.beats.confirm(["q.fast"]);
    await sleep(50);
    h.beats.confirm(["q.slow", "q.other"]);
    held.delete("q.fast"); // its result was acknowledged: its lease is over
    await sleep(100);
    expect(h.requests).toHaveLength(0);
    await sleep(150);
    expect(h.requests.map((r) => r.ids)).toEqual([["q.slow"]]); // q.other was never held
    expect(h.requests[0]!.at).toBeGreaterThanOrEqual(195);
    await h.end();
  });

  it("an exchange takes confirmations only once the window is over (none before), then all but those whose results it carries", async () => {
    // The loop is not run here: only what an exchange would take.
    const beats = new Heartbeats({
      intervalMs: 60_000, confirmDelayMs: 150, signal: new AbortController().signal, running: () => [], holds: () => true,
      send: async (ids) => ({ active: ids, cancelled: [], stale: [] }), onAbort: () => {}, onAnswer: () => {}, onError: () => {},
    });
    beats.confirm(["q.a", "q.b"]);
    expect(beats.takeConfirmations(new Set())).toEqual([]);
    await sleep(60);
    beats.confirm(["q.c"]);
    expect(beats.takeConfirmations(new Set())).toEqual([]);
    await sleep(120); // the window of the oldest (q.a) is over; q.c, younger, goes along
    const taken = beats.takeConfirmations(new Set(["q.b"]));
    expect(taken).toEqual(["q.a", "q.c"]);
    beats.confirmationsDone(taken, true);
    expect(await beats.confirmed(0)).toBe(false); // q.b is still outstanding
  });

  it("each lease waits its own window: a later one goes along only once half of its window is over", async () => {
    const h = harness({ intervalMs: 60_000, confirmDelayMs: 200 });
    h.beats.confirm(["q.a"]); // due at 200
    await sleep(150);
    h.beats.confirm(["q.b"]); // half its window over at 250, due at 350
    await sleep(150);
    expect(h.requests.map((r) => r.ids)).toEqual([["q.a"]]);
    await sleep(150);
    expect(h.requests.map((r) => r.ids)).toEqual([["q.a"], ["q.b"]]);
    expect(h.requests[1]!.at).toBeGreaterThanOrEqual(345);
    await h.end();
  });

  it("an envelope's own window (a fifth of its delivery lease) wins over the default", async () => {
    expect(confirmDelayFor(10_000, 200)).toBe(2_000);
    expect(confirmDelayFor(1_000, 200)).toBe(200);
    expect(confirmDelayFor(100, 200)).toBe(100); // never under 100 ms
    expect(confirmDelayFor(3_600_000, 200)).toBe(5_000); // never over 5 s
    for (const missing of [undefined, 0, -1, Number.NaN]) expect(confirmDelayFor(missing, 200)).toBe(200);
    const h = harness({ intervalMs: 60_000, confirmDelayMs: 200 });
    h.beats.confirm(["q.long"], 1_000);
    h.beats.confirm(["q.short"]);
    await sleep(300);
    expect(h.requests.map((r) => r.ids)).toEqual([["q.short"]]); // q.long, not half through its window at 200, waits
    await sleep(800);
    expect(h.requests.map((r) => r.ids)).toEqual([["q.short"], ["q.long"]]);
    expect(h.requests[1]!.at).toBeGreaterThanOrEqual(995);
    await h.end();
  });

  it("stopping sends outstanding confirmations without waiting out the window", async () => {
    const h = harness({ intervalMs: 60_000, confirmDelayMs: 5_000 });
    h.beats.confirm(["q.a"]);
    const t0 = Date.now();
    expect(await h.beats.confirmed(1_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(200);
    await h.end();
  });

  it("a failed confirmation is retried with backoff until the coordinator answers", async () => {
    const h = harness({ intervalMs: 60_000, failFirst: 3 });
    h.beats.confirm(["q.a"]);
    expect(await h.beats.confirmed(10_000)).toBe(true);
    expect(h.requests.map((r) => r.ids)).toEqual([["q.a"], ["q.a"], ["q.a"], ["q.a"]]);
    expect(h.errors).toHaveLength(3);
    await h.end();
  });

  it("a failed regular heartbeat is not retried before the next interval", async () => {
    const h = harness({ intervalMs: 300, running: ["q.r"], failFirst: 1_000 });
    await sleep(1_000);
    expect(h.requests.length).toBeGreaterThanOrEqual(2);
    expect(h.requests.length).toBeLessThanOrEqual(4);
    await h.end();
  });

  it("a confirmation carries the running tasks along when a regular heartbeat is nearly due", async () => {
    const h = harness({ intervalMs: 400, running: ["q.old"] });
    await sleep(300); // more than half the interval has passed
    h.beats.confirm(["q.new"]);
    await h.beats.confirmed(1_000);
    expect(h.requests).toHaveLength(1);
    expect(h.requests[0]!.ids.sort()).toEqual(["q.new", "q.old"]);
    await h.end();
  });

  it("leases the answer names as cancelled or stale are aborted", async () => {
    const h = harness({ intervalMs: 60_000, answer: (ids) => ({ active: [], cancelled: ids.filter((i) => i.endsWith("c")), stale: ids.filter((i) => i.endsWith("s")) }) });
    h.beats.confirm(["q.c", "q.s"]);
    await h.beats.confirmed(1_000);
    expect(h.aborted.sort()).toEqual(["q.c", "q.s"]);
    await h.end();
  });
});
