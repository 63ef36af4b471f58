// The agent's verifier with real Ed25519 keys from the protocol module: which
// poll answers it runs and which it refuses, with the code it reports.
import { describe, expect, it } from "vitest";
import {
  fromBase64Url,
  generateSigningKey,
  importSigningKey,
  parsePublicKeys,
  signEnvelope,
  toBase64Url,
  type SigningKey,
  type TaskPayload,
} from "../../src/protocol/index.js";
import { Verifier } from "../../worker-agent/src/verifier.js";

const AGENT = "host-abc123";
let counter = 0;

async function keyPair(): Promise<SigningKey> {
  return importSigningKey((await generateSigningKey()).pkcs8Base64);
}

function payload(over: Partial<TaskPayload> = {}): TaskPayload {
  const now = Date.now();
  counter++;
  return {
    v: 1,
    agentId: AGENT,
    issuedAt: now,
    expiresAt: now + 60_000,
    tasks: [{ jobId: `q.batch${counter}xxxx.0`, leaseId: `q.lease${counter}xxxxxxxx`, attempt: 1, queue: "q", fnHash: "a".repeat(64), input: counter, timeoutMs: 1000 }],
    ...over,
  };
}

async function verifierFor(key: SigningKey, opts: { maxSeenLeases?: number } = {}): Promise<Verifier> {
  return Verifier.create({ publicKeys: await parsePublicKeys(key.jwk.x), agentId: AGENT, clockSkewMs: 5_000, ...opts });
}

describe("verifier", () => {
  it("accepts an envelope signed by the pinned key, addressed to this agent, not expired", async () => {
    const key = await keyPair();
    const p = payload();
    const verdict = await (await verifierFor(key)).checkEnvelope(await signEnvelope(p, key));
    expect(verdict).toEqual({ ok: true, payload: p });
  });

  it("refuses an envelope whose signature has one flipped byte", async () => {
    const key = await keyPair();
    const envelope = await signEnvelope(payload(), key);
    const sig = fromBase64Url(envelope.sig);
    sig[10] = sig[10]! ^ 0x01;
    const verdict = await (await verifierFor(key)).checkEnvelope({ ...envelope, sig: toBase64Url(sig) });
    expect(verdict).toMatchObject({ ok: false, code: "signature_rejected" });
  });

  it("refuses an envelope whose payload was changed after signing", async () => {
    const key = await keyPair();
    const envelope = await signEnvelope(payload(), key);
    const tampered = envelope.payload.replace('"attempt":1', '"attempt":2');
    expect(tampered).not.toBe(envelope.payload);
    const verdict = await (await verifierFor(key)).checkEnvelope({ ...envelope, payload: tampered });
    expect(verdict).toMatchObject({ ok: false, code: "signature_rejected" });
  });

  it("refuses an envelope signed by a key that is not pinned, even if it names the pinned kid", async () => {
    const pinned = await keyPair();
    const other = await keyPair();
    const verifier = await verifierFor(pinned);
    expect(await verifier.checkEnvelope(await signEnvelope(payload(), other))).toMatchObject({ ok: false, code: "signature_rejected" });
    const forged = { ...(await signEnvelope(payload(), other)), kid: pinned.jwk.kid };
    expect(await verifier.checkEnvelope(forged)).toMatchObject({ ok: false, code: "signature_rejected" });
  });

  it("refuses an envelope addressed to another agent, and names its leases so they can be reported", async () => {
    const key = await keyPair();
    const p = payload({ agentId: "someone-else" });
    const verdict = await (await verifierFor(key)).checkEnvelope(await signEnvelope(p, key));
    expect(verdict).toMatchObject({ ok: false, code: "wrong_agent", payload: { tasks: [{ leaseId: p.tasks[0]!.leaseId }] } });
  });

  it("refuses an envelope that expired longer ago than the clock-skew allowance", async () => {
    const key = await keyPair();
    const verifier = await verifierFor(key);
    const old = payload({ issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 10_000 });
    expect(await verifier.checkEnvelope(await signEnvelope(old, key))).toMatchObject({ ok: false, code: "envelope_expired" });
    const withinSkew = payload({ expiresAt: Date.now() - 1_000 });
    expect((await verifier.checkEnvelope(await signEnvelope(withinSkew, key))).ok).toBe(true);
  });

  it("refuses garbage as malformed_envelope", async () => {
    const verifier = await verifierFor(await keyPair());
    for (const junk of [null, "text", {}, { payload: "{", sig: "x", kid: "y" }, { payload: JSON.stringify({ v: 2 }), sig: "", kid: "" }]) {
      expect(await verifier.checkEnvelope(junk)).toMatchObject({ ok: false, code: "malformed_envelope" });
    }
  });

  it("refuses a lease id it has already been given (lease_replayed), remembering a bounded number", async () => {
    const key = await keyPair();
    const verifier = await verifierFor(key, { maxSeenLeases: 3 });
    const envelope = await signEnvelope(payload(), key);
    const verdict = await verifier.checkEnvelope(envelope);
    if (!verdict.ok) throw new Error("expected a good envelope");
    const leaseId = verdict.payload.tasks[0]!.leaseId;
    expect(verifier.checkLease(leaseId)).toBeNull();
    // The same signed envelope, replayed: it still verifies as a whole, but its lease is refused.
    expect((await verifier.checkEnvelope(envelope)).ok).toBe(true);
    expect(verifier.checkLease(leaseId)).toBe("lease_replayed");
    for (const other of ["l1", "l2", "l3"]) expect(verifier.checkLease(other)).toBeNull();
    expect(verifier.checkLease(leaseId)).toBeNull(); // the oldest was forgotten
    expect(verifier.checkLease("l3")).toBe("lease_replayed");
  });
});
