// One queue = one Durable Object. This class only wires storage, the alarm,
// the in-memory waiters and the signing key to the plain functions in
// submit.ts, transitions.ts and views.ts.

import { DurableObject } from "cloudflare:workers";
import {
  importSigningKey,
  LIMITS,
  signEnvelope,
  type BatchView,
  type Envelope,
  type HeartbeatResponse,
  type JobView,
  type ResultsPage,
  type ResultsResponse,
  type SigningKey,
  type SubmitResponse,
  type Task,
  type TaskResult,
} from "../protocol/index.js";
import type { Env } from "../env.js";
import { failure, success, type Outcome } from "./outcome.js";
import { migrate, QUEUE_SCHEMA } from "./schema.js";
import { findIdempotent, insertBatch, type NewBatch } from "./submit.js";
import { cancel, claim, expireLeases, heartbeat, nextWakeAt, recordResult } from "./transitions.js";
import { batchProgress, batchView, jobView, resultsAfter } from "./views.js";
import { Waiters } from "./waiters.js";

const DEFAULT_ENVELOPE_TTL_MS = 60_000;

export class QueueObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly waiters = new Waiters();
  private signingKey?: Promise<SigningKey>;
  private alarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, QUEUE_SCHEMA);
  }

  async submit(batch: NewBatch): Promise<Outcome<SubmitResponse>> {
    if (batch.idempotencyKey && batch.bodyDigest) {
      const match = findIdempotent(this.sql, batch.idempotencyKey, batch.bodyDigest);
      if (match?.kind === "same") return success(match.response);
      if (match?.kind === "conflict") {
        return failure(409, "idempotency_conflict", "this Idempotency-Key was used with a different request body");
      }
    }
    const response = this.ctx.storage.transactionSync(() => insertBatch(this.sql, batch, Date.now()));
    this.wakePollers();
    return success(response);
  }

  /** Long-poll for work: returns a signed envelope with up to `slots` tasks, or null after `waitMs`. */
  async poll(queue: string, agentId: string, slots: number, waitMs: number): Promise<Envelope | null> {
    let tasks = this.claimNow(queue, agentId, slots);
    if (tasks.length === 0 && waitMs > 0) {
      tasks = await this.waiters.waitForWork(queue, agentId, slots, waitMs);
    }
    if (tasks.length === 0) return null;
    const now = Date.now();
    const ttl = Number(this.env.ENVELOPE_TTL_MS ?? DEFAULT_ENVELOPE_TTL_MS) || DEFAULT_ENVELOPE_TTL_MS;
    return signEnvelope({ v: 1, agentId, issuedAt: now, expiresAt: now + ttl, tasks }, await this.key());
  }

  async reportResults(results: TaskResult[]): Promise<ResultsResponse> {
    const accepted: string[] = [];
    const stale: string[] = [];
    const changed = new Set<string>();
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const result of results) {
        const recorded = recordResult(this.sql, result, now, LIMITS.maxResultBytes);
        if (recorded.status === "stale") {
          stale.push(result.leaseId);
          continue;
        }
        accepted.push(result.leaseId);
        if (recorded.outcome !== "requeued") changed.add(recorded.batchId);
      }
    });
    for (const batchId of changed) this.waiters.notifyResult(batchId);
    this.wakePollers();
    return { accepted, stale };
  }

  async heartbeat(leaseIds: string[]): Promise<HeartbeatResponse> {
    const answer = this.ctx.storage.transactionSync(() => heartbeat(this.sql, leaseIds, Date.now()));
    await this.scheduleWake();
    return answer;
  }

  async job(queue: string, jobId: string): Promise<JobView | null> {
    return jobView(this.sql, queue, jobId);
  }

  async batch(queue: string, batchId: string): Promise<BatchView | null> {
    return batchView(this.sql, queue, batchId);
  }

  async results(batchId: string, after: number, waitMs: number, limit: number): Promise<Outcome<ResultsPage>> {
    let progress = batchProgress(this.sql, batchId);
    if (!progress) return failure(404, "not_found", `no batch ${batchId}`);
    let results = resultsAfter(this.sql, batchId, after, limit);
    if (results.length === 0 && waitMs > 0 && progress.finished < progress.total) {
      await this.waiters.waitForResult(batchId, waitMs);
      results = resultsAfter(this.sql, batchId, after, limit);
      progress = batchProgress(this.sql, batchId) ?? progress;
    }
    const next = results.at(-1)?.seq ?? after;
    return success({ results, next, done: progress.finished >= progress.total && next >= progress.finished });
  }

  async cancel(where: { jobId: string } | { batchId: string }): Promise<Outcome<{ cancelled: number }>> {
    const exists =
      "jobId" in where
        ? this.sql.exec("SELECT 1 FROM jobs WHERE id = ?", where.jobId).toArray().length > 0
        : batchProgress(this.sql, where.batchId) !== null;
    if (!exists) return failure(404, "not_found", `no ${"jobId" in where ? "job " + where.jobId : "batch " + where.batchId}`);
    const batchId = "jobId" in where ? where.jobId.slice(0, where.jobId.lastIndexOf(".")) : where.batchId;
    const cancelled = this.ctx.storage.transactionSync(() => cancel(this.sql, where, Date.now()));
    if (cancelled > 0) this.waiters.notifyResult(batchId);
    await this.scheduleWake();
    return success({ cancelled });
  }

  override async alarm(): Promise<void> {
    this.alarmAt = undefined;
    const { batches } = this.ctx.storage.transactionSync(() => expireLeases(this.sql, Date.now()));
    for (const batchId of batches) this.waiters.notifyResult(batchId);
    // Expired leases and delayed retries both make work ready now.
    this.wakePollers();
    await this.scheduleWake();
  }

  private claimNow(queue: string, agentId: string, slots: number): Task[] {
    const tasks = this.ctx.storage.transactionSync(() => claim(this.sql, queue, agentId, slots, Date.now()));
    if (tasks.length > 0) void this.scheduleWake();
    return tasks;
  }

  /** Hands ready work to waiting pollers, oldest first, until the work or the pollers run out. */
  private wakePollers(): void {
    for (const poller of [...this.waiters.waitingPollers()]) {
      const tasks = this.claimNow(poller.queue, poller.agentId, poller.slots);
      if (tasks.length === 0) break;
      poller.wake(tasks);
    }
    void this.scheduleWake();
  }

  private async scheduleWake(): Promise<void> {
    const at = nextWakeAt(this.sql, Date.now());
    if (at === this.alarmAt) return;
    this.alarmAt = at;
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  private key(): Promise<SigningKey> {
    if (!this.env.SIGNING_KEY) throw new Error("SIGNING_KEY is not configured");
    return (this.signingKey ??= importSigningKey(this.env.SIGNING_KEY));
  }
}
