// The signed task envelope: one signature per poll answer. The payload is
// kept as the exact signed text so nothing is re-serialized before verifying;
// the domain prefix keeps these signatures from being valid anywhere else.

import { sign, verifyWith, type SigningKey, type VerifyKey } from "./keys.js";
import type { RejectionCode } from "./codes.js";
import type { Envelope, Task, TaskPayload } from "./types.js";

export const ENVELOPE_DOMAIN = "dist-task-v1\n";
/** How far an agent's clock may run behind the coordinator's (the agent's default). */
export const CLOCK_SKEW_MS = 5_000;
const MAX_TIMEOUT_MS = 24 * 3600_000;

export async function signEnvelope(payload: TaskPayload, key: SigningKey): Promise<Envelope> {
  const text = JSON.stringify(payload);
  return { payload: text, sig: await sign(key, ENVELOPE_DOMAIN + text), kid: key.jwk.kid };
}

export type Verdict =
  | { ok: true; payload: TaskPayload }
  | { ok: false; code: RejectionCode; reason: string; payload?: TaskPayload };

function isTask(t: unknown): t is Task {
  const task = t as Task;
  return (
    typeof task === "object" && task !== null &&
    typeof task.jobId === "string" && typeof task.leaseId === "string" && task.leaseId.length <= 128 &&
    Number.isInteger(task.attempt) && typeof task.queue === "string" && typeof task.fnHash === "string" &&
    Number.isInteger(task.timeoutMs) && task.timeoutMs > 0 && task.timeoutMs <= MAX_TIMEOUT_MS
  );
}

/** Parses a payload without trusting it: used to name the leases of an envelope being refused. */
export function parsePayload(text: string): TaskPayload | null {
  try {
    const p = JSON.parse(text) as TaskPayload;
    if (
      p?.v !== 1 || typeof p.agentId !== "string" || typeof p.issuedAt !== "number" ||
      typeof p.expiresAt !== "number" || !Array.isArray(p.tasks) || !p.tasks.every(isTask)
    ) return null;
    return p;
  } catch {
    return null;
  }
}

/**
 * From a payload that failed to parse as a task payload, the tasks whose
 * lease ids can still be read — so the agent can report them refused and the
 * coordinator need not wait for their delivery leases to run out.
 */
function salvageLeases(text: string): TaskPayload | undefined {
  try {
    const raw = JSON.parse(text) as { tasks?: unknown };
    if (!Array.isArray(raw?.tasks)) return undefined;
    const tasks = raw.tasks
      .filter((t): t is { leaseId: string; jobId?: unknown } => typeof (t as { leaseId?: unknown })?.leaseId === "string" && (t as { leaseId: string }).leaseId.length <= 128)
      .map((t) => ({ jobId: typeof t.jobId === "string" ? t.jobId.slice(0, 128) : "", leaseId: t.leaseId, attempt: 0, queue: "", fnHash: "", input: null, timeoutMs: 1 }));
    return tasks.length ? { v: 1, agentId: "", issuedAt: 0, expiresAt: 0, tasks } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks an envelope as a whole: its signature under one of the pinned keys,
 * its addressee and its expiry. Per-task checks (lease replay, function hash)
 * belong to the caller, which holds that state.
 */
export async function verifyEnvelope(
  envelope: Envelope,
  keys: VerifyKey[],
  expect: { agentId: string; now: number; skewMs?: number; session?: string },
): Promise<Verdict> {
  const payload = typeof envelope?.payload === "string" ? parsePayload(envelope.payload) : null;
  if (!payload) {
    const salvaged = typeof envelope?.payload === "string" ? salvageLeases(envelope.payload) : undefined;
    return { ok: false, code: "malformed_envelope", reason: "payload is not a task payload", ...(salvaged ? { payload: salvaged } : {}) };
  }
  const key = keys.find((k) => k.kid === envelope.kid);
  if (!key) {
    const kid = typeof envelope.kid === "string" ? envelope.kid.slice(0, 32) : typeof envelope.kid;
    return { ok: false, code: "signature_rejected", reason: `key id ${kid} is not pinned`, payload };
  }
  if (typeof envelope.sig !== "string" || !(await verifyWith(key, ENVELOPE_DOMAIN + envelope.payload, envelope.sig))) {
    return { ok: false, code: "signature_rejected", reason: "signature does not verify under the pinned key", payload };
  }
  if (payload.agentId !== expect.agentId) {
    return { ok: false, code: "wrong_agent", reason: `envelope is addressed to another agent`, payload };
  }
  if (expect.session !== undefined && payload.session !== expect.session) {
    return { ok: false, code: "session_mismatch", reason: "envelope was issued to an earlier run of this agent", payload };
  }
  if (payload.expiresAt + (expect.skewMs ?? CLOCK_SKEW_MS) <= expect.now) {
    return { ok: false, code: "envelope_expired", reason: `envelope expired at ${new Date(payload.expiresAt).toISOString()}`, payload };
  }
  return { ok: true, payload };
}
