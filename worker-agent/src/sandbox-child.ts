// The sandbox child: a warm Node process, started by the pool under Node's
// permission model with an empty environment, that runs one task at a time.
// Each function gets its own vm realm (sandbox-realm.ts), compiled once and
// kept for the function's later tasks; the task code never sees this
// process's `process`, `require`, modules or IPC channel. Before any realm
// exists the child locks its own realm down (sandbox-lockdown.ts).

import { LIMITS } from "../../src/protocol/limits.js";
import { lockdown } from "./sandbox-lockdown.js";
import { CompileError, Realm, resultTooLarge, type RealmOutcome } from "./sandbox-realm.js";
import { PROGRESS_INTERVAL_MS, toTaskError, type ChildMessage, type ParentMessage, type RunMessage } from "./sandbox-wire.js";

/** Realms kept per child; the least recently used is dropped (the pool resends its source if needed). */
const MAX_REALMS = 16;

// Keep a private handle on the channel before anything else runs.
const send = process.send?.bind(process) as ((msg: ChildMessage) => boolean) | undefined;
if (!send) throw new Error("sandbox-child must be started by the dist-agent sandbox pool (no IPC channel)");
const allowNet = process.argv.includes("--allow-net");
const platformFetch = lockdown({ allowNet });

interface Entry {
  realm: Realm;
  /** Settles when the function has compiled (rejects with CompileError). */
  ready: Promise<void>;
}
const realms = new Map<string, Entry>();
let current: { id: number; realm: Realm | null; replied: boolean } | null = null;

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

function reply(id: number, msg: ChildMessage): void {
  if (!current || current.id !== id || current.replied) return;
  current.replied = true;
  progressDue = null;
  current.realm?.end();
  current = null;
  send!(msg);
}

function outcomeMessage(id: number, outcome: RealmOutcome): ChildMessage {
  if (!outcome.ok) return { type: "result", id, ok: false, error: outcome.error };
  if (Buffer.byteLength(outcome.json) > LIMITS.maxResultBytes) return { type: "result", id, ok: false, error: resultTooLarge() };
  return { type: "result", id, ok: true, json: outcome.json };
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
  const entry = { realm, ready: realm.compile(source) };
  realms.set(fnHash, entry);
  entry.ready.catch(() => realms.delete(fnHash));
  for (const oldest of realms.keys()) {
    if (realms.size <= MAX_REALMS) break;
    realms.delete(oldest);
  }
  return entry;
}

async function run(msg: RunMessage): Promise<void> {
  current = { id: msg.id, realm: null, replied: false };
  try {
    const entry = realmFor(msg.fnHash, msg.source);
    if (!entry) return reply(msg.id, { type: "need_source", id: msg.id });
    current.realm = entry.realm;
    await entry.ready;
    if (current?.id !== msg.id) return;
    entry.realm.run(msg.id, msg.inputJson, msg.jobId, msg.attempt, LIMITS.maxResultBytes, (outcome) => reply(msg.id, outcomeMessage(msg.id, outcome)), (fraction, message) => onProgress(msg.id, fraction, message));
  } catch (err) {
    const error = err instanceof CompileError ? err.error : toTaskError({ name: "Error", message: (err as Error)?.message }, "sandbox_crashed");
    reply(msg.id, { type: "result", id: msg.id, ok: false, error });
  }
}

process.on("message", (msg: ParentMessage) => {
  if (msg.type === "run") {
    send({ type: "started", id: msg.id });
    void run(msg);
  } else if (msg.type === "abort" && current?.id === msg.id) {
    current.realm?.abort(msg.id, msg.reason);
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
  if (current) reply(current.id, { type: "result", id: current.id, ok: false, error: toTaskError({ name: "Error", message: err?.message }, "sandbox_crashed") });
});
// The pool is gone (the agent exited or was killed): nothing left to serve.
process.on("disconnect", () => process.exit(0));

send({ type: "ready" });
