// Following a batch: results as NDJSON on stdout (one line per finished job,
// in completion order), the progress bar on stderr, until the batch is done.

import type { Api } from "./api.js";
import { ProgressBar, type Progress } from "./progress-bar.js";

interface BatchView {
  total: number;
  done: boolean;
  counts: { queued: number; leased: number; done: number; failed: number; cancelled: number };
}

/** Streams `batchId`'s results to `write`; resolves with the final counts. */
export async function watchBatch(api: Api, batchId: string, write: (line: string) => void, opts: { bar?: boolean } = {}): Promise<Progress> {
  const bar = opts.bar === false ? null : new ProgressBar();
  const batch = await api.call<BatchView>("GET", `/v1/batches/${batchId}`);
  const progress: Progress = { total: batch.total, done: 0, failed: 0, running: batch.counts.leased };
  const stop = new AbortController();
  // Running counts are not in the result stream: refresh them alongside it.
  const refresher = (async () => {
    while (!stop.signal.aborted) {
      await new Promise((r) => setTimeout(r, 1000));
      if (stop.signal.aborted) break;
      try {
        progress.running = (await api.call<BatchView>("GET", `/v1/batches/${batchId}`)).counts.leased;
        bar?.draw(progress);
      } catch {
        /* the stream reports real trouble; a missed refresh only delays the bar */
      }
    }
  })();
  bar?.draw(progress);
  try {
    for await (const line of api.lines(`/v1/batches/${batchId}/events?format=ndjson`, stop.signal)) {
      const result = JSON.parse(line) as { ok: boolean };
      if (result.ok) progress.done++;
      else progress.failed++;
      write(line);
      bar?.draw(progress);
    }
  } finally {
    stop.abort();
    await refresher;
  }
  progress.running = 0;
  bar?.draw(progress, true);
  return progress;
}
