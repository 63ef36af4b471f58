// The attempts history is written lazily: an attempt gets its row only when
// it ends otherwise than in success; the running or successful one is read
// from the job row. These check the history reads the same either way, and
// that rows an earlier version wrote at lease time ('running') still end right.
import { describe, expect, it } from "vitest";
import { env, runInDurableObject } from "cloudflare:test";
import { call, idOf, poll, report, submit, tasksOf } from "./helpers.js";

const fn = "(x) => x";
const job = async (jobId: string) => (await call("GET", `/v1/jobs/${jobId}`)).body;
const stubOf = (queue: string) => env.QUEUE.get(env.QUEUE.idFromName(queue));

/** The `attempts` rows of a job, straight from the object's SQLite. */
async function rowsOf(queue: string, jobId: string): Promise<Array<{ attempt: number; outcome: string; ended_at: number | null }>> {
  return runInDurableObject(stubOf(queue), (_obj, state: DurableObjectState) =>
    state.storage.sql.exec<{ attempt: number; outcome: string; ended_at: number | null }>(
      "SELECT attempt, outcome, ended_at FROM attempts WHERE job_id = ? ORDER BY attempt",
      jobId,
    ).toArray(),
  );
}

/** Writes the row an earlier version wrote when it granted the job's current lease. */
async function writeOldRunningRow(queue: string, jobId: string): Promise<void> {
  await runInDurableObject(stubOf(queue), (_obj, state: DurableObjectState) => {
    state.storage.sql.exec(
      `INSERT INTO attempts (job_id, attempt, lease_id, agent_id, leased_at, outcome, agent_held)
       SELECT id, attempts, lease_id, lease_agent, leased_at, 'running', lease_held FROM jobs WHERE id = ?`,
      jobId,
    );
  });
}

describe("attempts history", () => {
  it("a job that succeeds at once writes no attempts row; its history comes from the job row", async () => {
    const queue = "hist-once";
    await submit({ fn, inputs: [1, 2], queue });
    const [a, b] = tasksOf((await poll({ slots: 2, wait: 0, queue }, "hist-agent")).body);
    const agentId = await idOf("hist-agent");
    const running = await job(a!.jobId);
    expect(running.history).toEqual([{ attempt: 1, agentId, leasedAt: expect.any(Number), endedAt: null, outcome: "running", agentHeld: 1 }]);
    await report([{ leaseId: a!.leaseId, ok: true, value: 1 }, { leaseId: b!.leaseId, ok: true, value: 2 }], "hist-agent");
    const done = await job(b!.jobId);
    expect(done).toMatchObject({ state: "done", agentId, attempts: 1 });
    expect(done.history).toEqual([{ attempt: 1, agentId, leasedAt: running.history[0].leasedAt, endedAt: done.finishedAt, outcome: "ok", agentHeld: 2 }]);
    expect(await rowsOf(queue, a!.jobId)).toEqual([]);
    expect(await rowsOf(queue, b!.jobId)).toEqual([]);
  });

  it("an error gets its row; the retry's success is read from the job row after it", async () => {
    const queue = "hist-retry";
    await submit({ fn, inputs: [1], queue, maxAttempts: 3 });
    const [first] = tasksOf((await poll({ slots: 1, wait: 0, queue }, "hist-a")).body);
    await report([{ leaseId: first!.leaseId, ok: false, error: { name: "Error", message: "flaky" } }], "hist-a");
    expect(await rowsOf(queue, first!.jobId)).toEqual([{ attempt: 1, outcome: "error", ended_at: expect.any(Number) }]);
    // The retry waits out its backoff (an empty poll answers 204).
    let second: ReturnType<typeof tasksOf>[number] | undefined;
    for (let i = 0; i < 40 && !second; i++) {
      const answer = await poll({ slots: 1, wait: 0, queue }, "hist-b");
      if (answer.status === 200) [second] = tasksOf(answer.body);
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(second).toBeDefined();
    await report([{ leaseId: second!.leaseId, ok: true, value: "fine" }], "hist-b");
    const done = await job(first!.jobId);
    expect(done.history.map((h: any) => [h.attempt, h.agentId, h.outcome])).toEqual([
      [1, await idOf("hist-a"), "error"],
      [2, await idOf("hist-b"), "ok"],
    ]);
    expect((await rowsOf(queue, first!.jobId)).map((r) => r.outcome)).toEqual(["error"]);
  });

  it("a 'running' row an earlier version wrote reads as the job row says, and is ended in place", async () => {
    const queue = "hist-old";
    await submit({ fn, inputs: [1, 2], queue, maxAttempts: 1 });
    const [ok, bad] = tasksOf((await poll({ slots: 2, wait: 0, queue }, "hist-old-agent")).body);
    await writeOldRunningRow(queue, ok!.jobId);
    await writeOldRunningRow(queue, bad!.jobId);
    await report(
      [
        { leaseId: ok!.leaseId, ok: true, value: 1 },
        { leaseId: bad!.leaseId, ok: false, error: { name: "Error", message: "no" } },
      ],
      "hist-old-agent",
    );
    const done = await job(ok!.jobId);
    expect(done.history).toEqual([expect.objectContaining({ attempt: 1, outcome: "ok", endedAt: done.finishedAt, agentHeld: 1 })]);
    const failed = await job(bad!.jobId);
    expect(failed).toMatchObject({ state: "failed" });
    expect(failed.history).toEqual([expect.objectContaining({ attempt: 1, outcome: "error", error: { name: "Error", message: "no" }, agentHeld: 2 })]);
    expect(await rowsOf(queue, bad!.jobId)).toEqual([{ attempt: 1, outcome: "error", ended_at: expect.any(Number) }]);
  });
});
