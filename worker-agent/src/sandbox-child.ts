// The sandbox child: a Node process, started by the pool under Node's
// permission model with an empty environment, that runs one task at a time
// from a queue the pool fills in batches, and sends the outcomes coalesced
// (one channel write for many quick tasks; see sandbox-wire.ts for when).
// Each function gets its own vm realm (sandbox-realm.ts), compiled once and
// kept for the function's later tasks; the task code never sees this
// process's `process`, `require`, modules or IPC channel. Before any realm
// exists the child locks its own realm down (sandbox-lockdown.ts).

import type { TaskError } from "../../src/protocol/client.js";
import { LIMITS } from "../../src/protocol/limits.js";
import { lockdown } from "./sandbox-lockdown.js";
import { CompileError, Realm, resultTooLarge, type RealmOutcome } from "./sandbox-realm.js";
import {
  FLUSH_CHARS, FLUSH_COUNT, FLUSH_MS, PROGRESS_INTERVAL_MS, toTaskError, type BatchMessage, type ChildMessage, type Done, type ParentMessage, type RunItem,
} from "./sandbox-wire.js";

/** Realms kept per child; the least recently used is dropped (the pool resends its source if needed). */
const MAX_REALMS = 16;

// Keep a private handle on the channel before anything else runs.
const send = process.send?.bind(process) as ((msg: ChildMessage) => boolean) | undefined;
if (!send) throw new Error("sandbox-child must be started by the dist-agent sandbox pool (no IPC channel)");
const now = performance.now.bind(performance);
const allowNet = process.argv.includes("--allow-net");
const platformFetch = lockdown({ allowNet });

interface Entry {
  realm: Realm;
  /** Settles when the function has compiled (rejects with CompileError). */
  ready: Promise<void>;
  /** How long its last run took here, in ms (Infinity before one completed). */
  lastMs: number;
}
const realms = new Map<string, Entry>();
let current: { id: number; entry: Entry | null; realm: Realm | null; replied: boolean; startedAt: number } | null = null;
/** Tasks received and not started yet, in order. */
const queue: RunItem[] = [];
let nextScheduled = false;

/** Outcomes not yet sent (and a batch not yet acknowledged), since when the oldest waits, and the size of their JSON. */
const pending: Done[] = [];
let ackDue: number | undefined;
let pendingSince = 0;
let pendingChars = 0;
let flushTimer: NodeJS.Timeout | undefined;

/** Sends the pending outcomes, and the acknowledgement due, in one message. */
function flush(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending.length === 0 && ackDue === undefined) return;
  const results = pending.splice(0);
  const ack = ackDue;
  ackDue = undefined;
  pendingChars = 0;
  send!(ack === undefined ? { type: "done", results } : { type: "done", ack, results });
}

/**
 * Acknowledges a batch: at once, normally — the pool counts a task's time
 * from then and takes a silent child for wedged. When this child was idle,
 * the pool allows it (lazyAck) and the batch starts with a function that last
 * ran here in under FLUSH_MS, the acknowledgement rides with that task's
 * outcome instead, or goes out on the next turn of the event loop if the task
 * waits for something: one channel write (and one wakeup of the pool) less per
 * batch. Should that run spin after all, the pool deems the child wedged and
 * sends the batch again without lazyAck: slower, never wrong.
 */
function acknowledge(msg: BatchMessage, idle: boolean): void {
  if (ackDue !== undefined) flush();
  ackDue = msg.seq;
  const first = msg.tasks[0];
  const quick = idle && msg.lazyAck === true && first !== undefined && (realms.get(first.fnHash)?.lastMs ?? Infinity) < FLUSH_MS;
  if (!quick) return flush();
  if (pending.length === 0) pendingSince = now();
  setImmediate(flushAck, msg.seq);
}

function flushAck(seq: number): void {
  if (ackDue === seq) flush();
}

function settle(done: Done): void {
  if (pending.length === 0 && ackDue === undefined) pendingSince = now();
  pending.push(done);
  pendingChars += "json" in done ? done.json.length : 256;
  // With nothing queued the pool is waiting on exactly these: no reason to hold them.
  if (queue.length === 0 || pending.length >= FLUSH_COUNT || pendingChars >= FLUSH_CHARS) flush();
  else flushTimer ??= setTimeout(flush, FLUSH_MS);
}

/** Starts the next queued task on a fresh turn of the event loop, never inside the previous task's call stack. */
function scheduleNext(): void {
  if (nextScheduled || current || queue.length === 0) return;
  nextScheduled = true;
  setImmediate(runNext);
}

function runNext(): void {
  nextScheduled = false;
  if (current) return;
  const item = queue.shift();
  if (!item) return;
  // A task that spins keeps the flush timer from firing: send what is old enough before starting one.
  if ((pending.length > 0 || ackDue !== undefined) && now() - pendingSince >= FLUSH_MS) flush();
  void run(item);
}

/** Progress not yet passed on (only the latest of the current run), and when the last was. */
let progressDue: { id: number; fraction: number; message?: string } | null = null;
let progressTimer: NodeJS.Timeout | undefined;
let progressSentAt = 0;

function sendProgress(): void {
  progressTimer = undefined;
  if (!progressDue || current?.id !== progressDue.id || current.replied) return;
  progressSentAt = Date.now();
  send!({ type: "progress", ...progressDue });
  progressDue = null;
}

function onProgress(id: number, fraction: number, message?: string): void {
  progressDue = message === undefined ? { id, fraction } : { id, fraction, message };
  if (progressTimer) return;
  progressTimer = setTimeout(sendProgress, Math.max(0, progressSentAt + PROGRESS_INTERVAL_MS - Date.now()));
}

type Ending = { ok: true; json: string } | { ok: false; error: TaskError } | { status: "need_source" };

function reply(id: number, ending: Ending): void {
  if (!current || current.id !== id || current.replied) return;
  current.replied = true;
  progressDue = null;
  current.realm?.end();
  const ms = now() - current.startedAt;
  if (current.entry) current.entry.lastMs = ms;
  current = null;
  settle("status" in ending ? { id, status: ending.status } : { id, ms, ...ending });
  scheduleNext();
}

function ending(outcome: RealmOutcome): Ending {
  if (!outcome.ok) return outcome;
  if (Buffer.byteLength(outcome.json) > LIMITS.maxResultBytes) return { ok: false, error: resultTooLarge() };
  return outcome;
}

/** The realm for `fnHash`, compiling `source` into a new one if needed; null if the source is needed but absent. */
function realmFor(fnHash: string, source: string | undefined): Entry | null {
  const known = realms.get(fnHash);
  if (known) {
    realms.delete(fnHash);
    realms.set(fnHash, known);
    return known;
  }
  if (source === undefined) return null;
  const realm = new Realm(fnHash, { allowNet, fetch: platformFetch });
  const entry: Entry = { realm, ready: realm.compile(source), lastMs: Infinity };
  realms.set(fnHash, entry);
  entry.ready.catch(() => realms.delete(fnHash));
  for (const oldest of realms.keys()) {
    if (realms.size <= MAX_REALMS) break;
    realms.delete(oldest);
  }
  return entry;
}

async function run(item: RunItem): Promise<void> {
  current = { id: item.id, entry: null, realm: null, replied: false, startedAt: now() };
  try {
    const entry = realmFor(item.fnHash, item.source);
    if (!entry) return reply(item.id, { status: "need_source" });
    current.entry = entry;
    current.realm = entry.realm;
    await entry.ready;
    if (current?.id !== item.id) return;
    entry.realm.run(item.id, item.inputJson, item.jobId, item.attempt, LIMITS.maxResultBytes, (outcome) => reply(item.id, ending(outcome)), (fraction, message) => onProgress(item.id, fraction, message));
  } catch (err) {
    const error = err instanceof CompileError ? err.error : toTaskError({ name: "Error", message: (err as Error)?.message }, "sandbox_crashed");
    reply(item.id, { ok: false, error });
  }
}

process.on("message", (msg: ParentMessage) => {
  if (msg.type === "batch") {
    const idle = !current && queue.length === 0;
    queue.push(...msg.tasks);
    acknowledge(msg, idle);
    // Idle, at the top of the event loop: start now rather than a turn later.
    if (!current && !nextScheduled) runNext();
  } else if (msg.type === "abort") {
    if (current?.id === msg.id) return current.realm?.abort(msg.id, msg.reason);
    const at = queue.findIndex((item) => item.id === msg.id);
    if (at === -1) return;
    queue.splice(at, 1);
    settle({ id: msg.id, status: "dropped" });
  }
});

// A promise a task left rejected with no handler fails that task — if it is
// the one running now and the promise is of its realm; otherwise it is dropped.
process.on("unhandledRejection", (reason, promise) => {
  if (current?.realm?.owns(promise)) current.realm.stray(reason);
});
// Only this realm's own code can throw here (task errors are caught inside
// their realms): fail the current task rather than take the process down.
process.on("uncaughtException", (err) => {
  if (current) reply(current.id, { ok: false, error: toTaskError({ name: "Error", message: err?.message }, "sandbox_crashed") });
});
// The pool is gone (the agent exited or was killed): nothing left to serve.
process.on("disconnect", () => process.exit(0));

send({ type: "ready" });
