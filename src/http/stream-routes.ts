// A batch's results as a live stream, one event per finished job in
// completion order: Server-Sent Events (resumable with Last-Event-ID, the
// result's `seq`), or NDJSON with `?format=ndjson` for `curl -N`. Each is a
// loop of result long-polls against the queue object; the stream ends when
// the batch is done.

import { Hono } from "hono";
import { stream, streamSSE } from "hono/streaming";
import { LIMITS, type ProgressEntry, type ResultEntry, type ResultsPage } from "../protocol/index.js";
import type { Outcome } from "../queue/outcome.js";
import type { Env } from "../env.js";
import { ApiError, unwrap } from "./errors.js";
import { batchRef, queueStub } from "./stubs.js";

/** Mounted inside submitRoutes, behind its submit-token check. */
export const streamRoutes = new Hono<{ Bindings: Env }>();

/** Where a stream starts: Last-Event-ID (a reconnecting EventSource) wins over ?after. */
function startCursor(lastEventId: string | undefined, after: string | undefined): number {
  const raw = lastEventId ?? after ?? "0";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ApiError(400, "invalid_request", "Last-Event-ID / after must be a non-negative integer");
  return n;
}

/**
 * Calls `emit` for each result after `cursor` until the batch is done or the
 * client goes away, and `onProgress` (if given) for running jobs' progress.
 */
async function follow(
  env: Env,
  batchId: string,
  cursor: number,
  emit: (result: ResultEntry) => Promise<void>,
  idle: () => Promise<void>,
  aborted: () => boolean,
  onProgress?: (entry: ProgressEntry) => Promise<void>,
): Promise<void> {
  const { queue } = batchRef(batchId);
  const stub = queueStub(env, queue);
  let progressAt = 0;
  while (!aborted()) {
    const page = unwrap((await stub.results(batchId, cursor, LIMITS.maxWaitSeconds * 1000, LIMITS.maxResultsPage)) as Outcome<ResultsPage>);
    for (const result of page.results) await emit(result);
    cursor = page.next;
    if (page.done) return;
    if (onProgress) {
      for (const entry of (await stub.progressSince(batchId, progressAt)) as ProgressEntry[]) {
        progressAt = Math.max(progressAt, entry.at);
        await onProgress(entry);
      }
    }
    if (page.results.length === 0) await idle();
  }
}

streamRoutes.get("/batches/:id/events", async (c) => {
  const batchId = c.req.param("id");
  const { queue } = batchRef(batchId);
  const cursor = startCursor(c.req.header("last-event-id"), c.req.query("after"));
  // Check the batch exists before committing to a 200 stream.
  unwrap(await queueStub(c.env, queue).results(batchId, cursor, 0, 1));

  if (c.req.query("format") === "ndjson") {
    c.header("content-type", "application/x-ndjson");
    return stream(c, async (out) => {
      await follow(
        c.env, batchId, cursor,
        (r) => out.write(JSON.stringify(r) + "\n").then(() => undefined),
        async () => {},
        () => out.aborted,
      );
    });
  }
  return streamSSE(c, async (out) => {
    await follow(
      c.env, batchId, cursor,
      (r) => out.writeSSE({ id: String(r.seq), event: "result", data: JSON.stringify(r) }),
      // A comment line every empty long-poll keeps proxies from closing an idle stream.
      () => out.write(": waiting\n\n").then(() => undefined),
      () => out.aborted,
      (p) => out.writeSSE({ event: "progress", data: JSON.stringify(p) }),
    );
    await out.writeSSE({ event: "done", data: JSON.stringify({ batchId }) });
  });
});
