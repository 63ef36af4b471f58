// A recording, tampering proxy between agents and the coordinator, and the
// catalogue of envelope tamperings the adversarial suite puts through it.
//
// The proxy forwards every request. It records what matters for a verdict —
// every envelope the coordinator sent (as sent), every result an agent
// posted (with its `rejected` code), every credential the coordinator issued
// — and lets hooks change answers before the agent sees them: onEnvelope
// alters, holds, swallows or substitutes the envelope of a poll answer, in
// either transport (POST /v1/agent/poll answers with the envelope itself,
// POST /v1/agent/exchange carries it in `envelope` next to other answers,
// which are kept); onResponse replaces any other answer. Which agent asked
// is the request's X-Agent-Id.

import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { Envelope, SigningKey, TaskPayload } from "../../src/protocol/client.js";
import { ENVELOPE_DOMAIN, randomId, sign, signEnvelope } from "../../src/protocol/client.js";
import { listenOnLoopback } from "./loopback.js";

export interface Exchange {
  method: string;
  path: string;
  /** The X-Agent-Id the request carried. */
  agentId: string | undefined;
  requestHeaders: IncomingHttpHeaders;
  requestBody: string;
  status: number;
  responseBody: string;
}

/** One item of a POST /v1/agent/results an agent sent, as the proxy saw it. */
export interface Reported {
  agentId: string | undefined;
  leaseId: string;
  ok: boolean;
  rejected?: string;
  errorCode?: string;
  at: number;
}

/** A poll answer with tasks, as the coordinator sent it (before any hook). */
export interface Captured {
  agentId: string | undefined;
  envelope: Envelope;
  payload: TaskPayload;
}

export type Replacement = { status: number; body: string } | undefined;
export type ResponseHook = (ex: Exchange) => Promise<Replacement> | Replacement;
/**
 * Sees the envelope of every answer to a poll or exchange (null when it
 * carried none) and may replace it: `{ envelope: x }` sends x instead
 * (any JSON, tampered or not), `{ envelope: null }` sends no work; undefined
 * passes the answer on.
 */
export type EnvelopeHook = (ex: Exchange, envelope: Envelope | null) => Promise<{ envelope: unknown } | undefined> | { envelope: unknown } | undefined;

export interface TamperProxy {
  url: string;
  /** Replaces the envelope of poll and exchange answers; may be swapped at any time. */
  onEnvelope: EnvelopeHook | undefined;
  /** Replaces any other answer; may be swapped at any time. */
  onResponse: ResponseHook | undefined;
  reported: Reported[];
  captured: Captured[];
  /** Credentials the coordinator issued through this proxy (POST /v1/agent/enroll answers). */
  credentials: string[];
  requests: number;
  close(): Promise<void>;
}

const MAX_RECORDS = 20_000;
const push = <T>(list: T[], item: T): void => {
  if (list.length < MAX_RECORDS) list.push(item);
};

const isPoll = (ex: Exchange): boolean => ex.method === "POST" && ex.path.startsWith("/v1/agent/poll");
const isExchange = (ex: Exchange): boolean => ex.method === "POST" && ex.path.startsWith("/v1/agent/exchange");

/** The envelope an answer carries: a poll's 200 body, an exchange's `envelope`; null when none. */
function envelopeOf(ex: Exchange): Envelope | null {
  try {
    if (isPoll(ex) && ex.status === 200) return JSON.parse(ex.responseBody) as Envelope;
    if (isExchange(ex) && ex.status === 200) return ((JSON.parse(ex.responseBody) as { envelope?: Envelope | null }).envelope ?? null);
  } catch {
    /* not JSON */
  }
  return null;
}

/** The answer to send after an envelope hook chose `envelope` (null: no work). */
function withEnvelope(ex: Exchange, envelope: unknown): { status: number; body: string } {
  if (isPoll(ex)) return envelope === null ? { status: 204, body: "" } : { status: 200, body: JSON.stringify(envelope) };
  let rest: Record<string, unknown> = {};
  try {
    rest = JSON.parse(ex.responseBody) as Record<string, unknown>;
  } catch {
    /* keep an empty answer */
  }
  return { status: 200, body: JSON.stringify({ ...rest, envelope }) };
}

function record(proxy: TamperProxy, ex: Exchange): void {
  try {
    if ((ex.path.startsWith("/v1/agent/results") || isExchange(ex)) && ex.method === "POST") {
      const body = JSON.parse(ex.requestBody) as { results?: Array<Record<string, any>> };
      for (const r of body.results ?? []) {
        push(proxy.reported, {
          agentId: ex.agentId,
          leaseId: String(r.leaseId),
          ok: r.ok === true,
          ...(typeof r.rejected === "string" ? { rejected: r.rejected } : {}),
          ...(typeof r.error?.code === "string" ? { errorCode: r.error.code } : {}),
          at: Date.now(),
        });
      }
    }
    const envelope = envelopeOf(ex);
    if (envelope) push(proxy.captured, { agentId: ex.agentId, envelope, payload: JSON.parse(envelope.payload) as TaskPayload });
    if (ex.path.startsWith("/v1/agent/enroll") && ex.status === 201) {
      const credential = (JSON.parse(ex.responseBody) as { credential?: unknown }).credential;
      if (typeof credential === "string") push(proxy.credentials, credential);
    }
  } catch {
    /* not JSON: nothing to record */
  }
}

export async function startTamperProxy(target: string): Promise<TamperProxy> {
  const upstream = new URL(target);
  const proxy: TamperProxy = { url: "", onEnvelope: undefined, onResponse: undefined, reported: [], captured: [], credentials: [], requests: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      proxy.requests++;
      const requestBody = Buffer.concat(chunks);
      const path = req.url ?? "/";
      const headers = { ...req.headers, host: upstream.host };
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers }, (up) => {
        const body: Buffer[] = [];
        up.on("data", (c: Buffer) => body.push(c));
        up.on("end", async () => {
          const ex: Exchange = {
            method: req.method ?? "GET",
            path,
            agentId: typeof req.headers["x-agent-id"] === "string" ? req.headers["x-agent-id"] : undefined,
            requestHeaders: req.headers,
            requestBody: requestBody.toString("utf8"),
            status: up.statusCode ?? 502,
            responseBody: Buffer.concat(body).toString("utf8"),
          };
          record(proxy, ex);
          let replaced: Replacement;
          try {
            if ((isPoll(ex) && (ex.status === 200 || ex.status === 204)) || (isExchange(ex) && ex.status === 200)) {
              const chosen = await proxy.onEnvelope?.(ex, envelopeOf(ex));
              replaced = chosen ? withEnvelope(ex, chosen.envelope) : undefined;
            } else replaced = await proxy.onResponse?.(ex);
          } catch {
            replaced = undefined;
          }
          const status = replaced?.status ?? ex.status;
          const payload = replaced?.body ?? ex.responseBody;
          if (res.destroyed) return;
          const outHeaders: Record<string, string> = {};
          if (payload && status !== 204) outHeaders["content-type"] = "application/json";
          const retryAfter = up.headers["retry-after"];
          if (!replaced && typeof retryAfter === "string") outHeaders["retry-after"] = retryAfter;
          res.writeHead(status, outHeaders);
          res.end(status === 204 ? undefined : payload);
        });
      });
      out.on("error", () => {
        if (res.destroyed || res.headersSent) return;
        res.writeHead(502);
        res.end();
      });
      out.end(requestBody);
    });
  });
  const listening = await listenOnLoopback(server);
  proxy.url = listening.url;
  proxy.close = listening.close;
  return proxy;
}

/** Lease ids in a (possibly tampered) envelope, read leniently: what an agent could report. */
export function leaseIdsIn(envelope: unknown): string[] {
  try {
    const payload = (envelope as { payload?: unknown }).payload;
    const parsed = (typeof payload === "string" ? JSON.parse(payload) : payload) as { tasks?: Array<{ leaseId?: unknown }> };
    return (parsed.tasks ?? []).map((t) => t.leaseId).filter((id): id is string => typeof id === "string");
  } catch {
    return [];
  }
}

// --- the catalogue ---

export interface TamperContext {
  /** The coordinator's own signing key (tests hold it): for signatures that are genuine but misused. */
  real: SigningKey;
  /** A key no agent pinned. */
  rogue: SigningKey;
  /** fnHash of a function the coordinator knows but that no task named: what a forger would swap in. */
  evilFnHash: string;
}

export interface EnvelopeTamper {
  name: string;
  part: "payload" | "signature" | "key id" | "wrong key" | "structure" | "time";
  /** Rejection codes that are right for it; the first is the one expected today. */
  expect: string[];
  /** False when the tampering leaves no lease id an agent could read, so nothing can be reported. */
  readable?: boolean;
  apply(envelope: Envelope, ctx: TamperContext): Promise<unknown> | unknown;
}

type Payload = TaskPayload & Record<string, unknown>;
type TaskRecord = TaskPayload["tasks"][number] & Record<string, unknown>;

/** Re-serializes after `edit` the way the coordinator serializes, so untouched fields keep their bytes. */
function editPayload(edit: (p: Payload) => void) {
  return (e: Envelope): Envelope => {
    const p = JSON.parse(e.payload) as Payload;
    edit(p);
    return { ...e, payload: JSON.stringify(p) };
  };
}
const editTask = (edit: (t: TaskRecord) => void) => editPayload((p) => edit(p.tasks[0] as TaskRecord));
const flipChar = (s: string, at: number): string => s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);
const SIG = ["signature_rejected"];

export const ENVELOPE_TAMPERS: EnvelopeTamper[] = [
  // Each field of the payload; the signature no longer covers what the agent reads.
  { name: "payload.v changed", part: "payload", expect: ["malformed_envelope", "signature_rejected"], apply: editPayload((p) => ((p as any).v = 2)) },
  { name: "payload.agentId changed", part: "payload", expect: SIG, apply: editPayload((p) => (p.agentId = `intruder-${randomId(4)}`)) },
  { name: "payload.session changed", part: "payload", expect: SIG, apply: editPayload((p) => (p.session = randomId(16))) },
  { name: "payload.issuedAt changed", part: "payload", expect: SIG, apply: editPayload((p) => (p.issuedAt -= 3_600_000)) },
  { name: "payload.expiresAt extended", part: "payload", expect: SIG, apply: editPayload((p) => (p.expiresAt += 3_600_000)) },
  { name: "task.jobId changed", part: "payload", expect: SIG, apply: editTask((t) => (t.jobId = `${t.jobId}0`)) },
  { name: "task.leaseId changed", part: "payload", expect: SIG, apply: editTask((t) => (t.leaseId = `${t.queue}.${randomId(16)}`)) },
  { name: "task.attempt changed", part: "payload", expect: SIG, apply: editTask((t) => (t.attempt += 5)) },
  { name: "task.queue changed", part: "payload", expect: SIG, apply: editTask((t) => (t.queue = "elsewhere")) },
  {
    name: "task.fnHash swapped for a known evil function",
    part: "payload",
    expect: SIG,
    apply: (e, ctx) => editTask((t) => (t.fnHash = ctx.evilFnHash))(e),
  },
  { name: "task.input changed", part: "payload", expect: SIG, apply: editTask((t) => (t.input = { evil: true })) },
  { name: "task.timeoutMs raised to 24 h", part: "payload", expect: SIG, apply: editTask((t) => (t.timeoutMs = 24 * 3_600_000)) },
  {
    name: "task.signer and task.sig added",
    part: "payload",
    expect: SIG,
    apply: (e, ctx) => editTask((t) => Object.assign(t, { signer: ctx.rogue.jwk.x, sig: "A".repeat(86) }))(e),
  },
  {
    name: "a second task smuggled in",
    part: "payload",
    expect: SIG,
    apply: (e, ctx) =>
      editPayload((p) => p.tasks.push({ ...p.tasks[0]!, leaseId: `${p.tasks[0]!.queue}.${randomId(16)}`, fnHash: ctx.evilFnHash }))(e),
  },
  // Same meaning, other bytes: the signature is over the exact text.
  { name: "payload re-serialized with whitespace", part: "payload", expect: SIG, apply: (e) => ({ ...e, payload: JSON.stringify(JSON.parse(e.payload), null, 2) }) },
  { name: "payload with a \\u-escaped key", part: "payload", expect: SIG, apply: (e) => ({ ...e, payload: e.payload.replace('"v":', '"\\u0076":') }) },
  { name: "payload with a duplicate input key", part: "payload", expect: SIG, apply: (e) => ({ ...e, payload: e.payload.replace('"timeoutMs":', '"input":{"evil":true},"timeoutMs":') }) },
  { name: "payload with a trailing space", part: "payload", expect: SIG, apply: (e) => ({ ...e, payload: e.payload + " " }) },
  // The signature.
  { name: "sig: one character changed", part: "signature", expect: SIG, apply: (e) => ({ ...e, sig: flipChar(e.sig, 10) }) },
  { name: "sig: truncated", part: "signature", expect: SIG, apply: (e) => ({ ...e, sig: e.sig.slice(0, -4) }) },
  { name: "sig: empty", part: "signature", expect: SIG, apply: (e) => ({ ...e, sig: "" }) },
  { name: "sig: missing", part: "signature", expect: SIG, apply: ({ sig: _sig, ...rest }) => rest },
  { name: "sig: not base64url", part: "signature", expect: SIG, apply: (e) => ({ ...e, sig: "!".repeat(86) }) },
  { name: "sig: a number", part: "signature", expect: SIG, apply: (e) => ({ ...e, sig: 0 }) },
  {
    name: "sig: genuine, over another payload",
    part: "signature",
    expect: SIG,
    apply: async (e, ctx) => ({ ...e, sig: (await signEnvelope({ ...JSON.parse(e.payload), issuedAt: 1 }, ctx.real)).sig }),
  },
  {
    name: "sig: genuine key, no domain prefix",
    part: "signature",
    expect: SIG,
    apply: async (e, ctx) => ({ ...e, sig: await sign(ctx.real, e.payload) }),
  },
  {
    name: "sig: genuine key, job-signature domain",
    part: "signature",
    expect: SIG,
    apply: async (e, ctx) => ({ ...e, sig: await sign(ctx.real, `dist-job-v1\n${e.payload}`) }),
  },
  // The key id.
  { name: "kid: another value", part: "key id", expect: SIG, apply: (e) => ({ ...e, kid: "AAAAAAAAAAAAAAAA" }) },
  { name: "kid: the rogue key's", part: "key id", expect: SIG, apply: (e, ctx) => ({ ...e, kid: ctx.rogue.jwk.kid }) },
  { name: "kid: empty", part: "key id", expect: SIG, apply: (e) => ({ ...e, kid: "" }) },
  { name: "kid: missing", part: "key id", expect: SIG, apply: ({ kid: _kid, ...rest }) => rest },
  { name: "kid: an object", part: "key id", expect: SIG, apply: (e) => ({ ...e, kid: { toString: e.kid } }) },
  // A key the agent did not pin.
  { name: "re-signed by a rogue key (its kid)", part: "wrong key", expect: SIG, apply: (e, ctx) => signEnvelope(JSON.parse(e.payload), ctx.rogue) },
  {
    name: "re-signed by a rogue key (pinned kid)",
    part: "wrong key",
    expect: SIG,
    apply: async (e, ctx) => ({ ...(await signEnvelope(JSON.parse(e.payload), ctx.rogue)), kid: e.kid }),
  },
  {
    name: "evil fnHash, re-signed by a rogue key (pinned kid)",
    part: "wrong key",
    expect: SIG,
    apply: async (e, ctx) => {
      const p = JSON.parse(e.payload) as Payload;
      p.tasks[0]!.fnHash = ctx.evilFnHash;
      return { ...(await signEnvelope(p, ctx.rogue)), kid: e.kid };
    },
  },
  // The envelope's shape.
  { name: "payload sent as an object", part: "structure", expect: ["malformed_envelope"], readable: false, apply: (e) => ({ ...e, payload: JSON.parse(e.payload) }) },
];

/** An envelope held back past its expiry (with the agent's clock-skew allowance at 0). */
export function heldPastExpiry(holdMs: number): EnvelopeTamper {
  return {
    name: `held ${holdMs} ms past issue (expired)`,
    part: "time",
    expect: ["envelope_expired"],
    apply: async (e) => {
      await new Promise((r) => setTimeout(r, holdMs));
      return e;
    },
  };
}

/** The domain prefix, re-exported for tests that sign by hand. */
export { ENVELOPE_DOMAIN };
