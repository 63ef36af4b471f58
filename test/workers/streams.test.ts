import { describe, expect, it } from "vitest";
import { SELF } from "cloudflare:test";
import { call, poll, report, submit, SUBMIT, tasksOf } from "./helpers.js";

const fn = "(x) => x + 1";

async function runAll(queue: string, order: "forward" | "backward" = "forward") {
  const tasks = tasksOf((await poll({ slots: 10, wait: 0, queue })).body);
  for (const t of order === "forward" ? tasks : [...tasks].reverse()) {
    await report([{ leaseId: t.leaseId, ok: true, value: (t.input as number) + 1 }]);
  }
}

function open(path: string, headers: Record<string, string> = {}) {
  return SELF.fetch(`http://dist.test${path}`, { headers: { authorization: `Bearer ${SUBMIT}`, ...headers } });
}

function sseEvents(text: string): Array<{ id?: string; event?: string; data?: string }> {
  return text
    .split("\n\n")
    .filter((block) => block.trim() && !block.startsWith(":"))
    .map((block) => Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()])));
}

describe("result streams", () => {
  it("SSE gives one event per finished job in completion order, then done", async () => {
    const sub = await submit({ fn, inputs: [10, 20, 30], queue: "sse" });
    await runAll("sse", "backward");
    const res = await open(`/v1/batches/${sub.body.batchId}/events`);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = sseEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual(["result", "result", "result", "done"]);
    expect(events.slice(0, 3).map((e) => e.id)).toEqual(["1", "2", "3"]);
    expect(events.slice(0, 3).map((e) => JSON.parse(e.data!).value)).toEqual([31, 21, 11]);
  });

  it("resumes after Last-Event-ID", async () => {
    const sub = await submit({ fn, inputs: [1, 2, 3], queue: "sse-resume" });
    await runAll("sse-resume");
    const events = sseEvents(await (await open(`/v1/batches/${sub.body.batchId}/events`, { "last-event-id": "2" })).text());
    expect(events.filter((e) => e.event === "result").map((e) => e.id)).toEqual(["3"]);
  });

  it("delivers events live, as jobs finish", async () => {
    const sub = await submit({ fn, inputs: [1, 2], queue: "sse-live" });
    const res = await open(`/v1/batches/${sub.body.batchId}/events?format=ndjson`);
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const tasks = tasksOf((await poll({ slots: 2, wait: 0, queue: "sse-live" })).body);
    await report([{ leaseId: tasks[0]!.leaseId, ok: true, value: 2 }]);
    let text = "";
    while (!text.includes("\n")) text += decoder.decode((await reader.read()).value);
    expect(JSON.parse(text.split("\n")[0]!)).toMatchObject({ seq: 1, value: 2 });
    await report([{ leaseId: tasks[1]!.leaseId, ok: true, value: 3 }]);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text.trim().split("\n").map((l) => JSON.parse(l).value)).toEqual([2, 3]);
  });

  it("an unknown batch is a 404 JSON error, not a stream", async () => {
    const res = await open("/v1/batches/default.AAAAAAAAAAAAAAAA/events");
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe("not_found");
  });
});

describe("metrics", () => {
  it("GET /v1/metrics reports queue depth by state, leases, totals and agents online in Prometheus text", async () => {
    const sub = await submit({ fn, inputs: [1, 2, 3], queue: "metrics", maxAttempts: 2 });
    const tasks = tasksOf((await poll({ slots: 2, wait: 0, queue: "metrics" }, "metrics-agent")).body);
    await report([{ leaseId: tasks[0]!.leaseId, ok: true, value: 2 }], "metrics-agent");
    await report([{ leaseId: tasks[1]!.leaseId, ok: false, error: { name: "Error", message: "x" } }], "metrics-agent");
    const res = await open("/v1/metrics");
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain('dist_jobs{queue="metrics",state="queued"} 2');
    expect(text).toContain('dist_jobs{queue="metrics",state="done"} 1');
    expect(text).toContain('dist_leases{queue="metrics"} 0');
    expect(text).toContain('dist_jobs_completed_total{queue="metrics"} 1');
    expect(text).toContain('dist_retries_total{queue="metrics"} 1');
    expect(text).toMatch(/^dist_agents_online [1-9]\d*$/m);
    expect(text).toContain("# TYPE dist_jobs gauge");
    expect(sub.status).toBe(201);
    expect((await SELF.fetch("http://dist.test/v1/metrics")).status).toBe(401);
  });
});

describe("progress", () => {
  it("ctx.progress reported in a heartbeat shows in GET /v1/jobs/:id and as a progress event in the stream", async () => {
    const sub = await submit({ fn, inputs: [1, 2], queue: "progress" });
    const [t1, t2] = tasksOf((await poll({ slots: 2, wait: 0, queue: "progress" })).body);
    const res = await open(`/v1/batches/${sub.body.batchId}/events`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const hb = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [t1!.leaseId], progress: [{ leaseId: t1!.leaseId, fraction: 0.5, message: "halfway" }] } });
    expect(hb.body.active).toEqual([t1!.leaseId]);
    const job = await call("GET", `/v1/jobs/${t1!.jobId}`);
    expect(job.body.progress).toMatchObject({ fraction: 0.5, message: "halfway" });
    let text = "";
    while (!text.includes("event: progress")) text += decoder.decode((await reader.read()).value);
    await report([{ leaseId: t1!.leaseId, ok: true, value: 2 }, { leaseId: t2!.leaseId, ok: true, value: 3 }]);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    const events = sseEvents(text);
    const progress = events.find((e) => e.event === "progress");
    expect(JSON.parse(progress!.data!)).toMatchObject({ jobId: t1!.jobId, fraction: 0.5, message: "halfway" });
    expect(events.filter((e) => e.event === "result")).toHaveLength(2);
    expect((await call("GET", `/v1/jobs/${t1!.jobId}`)).body.progress).toBeUndefined();
  });

  it("progress for a lease that is not live is ignored; out-of-range fractions are refused", async () => {
    const bad = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [], progress: [{ leaseId: "progress.AAAAAAAAAAAAAAAAAAAAAA", fraction: 1.5 }] } });
    expect(bad.status).toBe(400);
    const ignored = await call("POST", "/v1/agent/heartbeat", { body: { leaseIds: [], progress: [{ leaseId: "progress.AAAAAAAAAAAAAAAAAAAAAA", fraction: 0.5 }] } });
    expect(ignored.status).toBe(200);
  });
});
