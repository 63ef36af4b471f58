// The agent's verifier with real Ed25519 keys from the protocol module: which
// poll answers it runs and which it refuses, with the code it reports.
import { describe, expect, it } from "vitest";
import {
  fromBase64Url,
  generateSigningKey,
  importSigningKey,
  parsePublicKeys,
  signEnvelope,
  signJob,
  toBase64Url,
  type Task,
  type SigningKey,
  type TaskPayload,
} from "../../src/protocol/index.js";
import { SubmitterTrust } from "../../worker-agent/src/trust.js";
import { Verifier } from "../../worker-agent/src/verifier.js";

const AGENT = "host-abc123";
const SESSION = "session-nonce-0123456789abcdef";
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
    session: SESSION,
    issuedAt: now,
    expiresAt: now + 60_000,
    tasks: [{ jobId: `q.batch${counter}xxxx.0`, leaseId: `q.lease${counter}xxxxxxxx`, attempt: 1, queue: "q", fnHash: "a".repeat(64), input: counter, timeoutMs: 1000 }],
    ...over,
  };
}

async function verifierFor(key: SigningKey | SigningKey[], opts: { maxSeenLeases?: number } = {}): Promise<Verifier> {
  const keys = Array.isArray(key) ? key : [key];
  return Verifier.create({ publicKeys: await parsePublicKeys(keys.map((k) => k.jwk.x).join(",")), agentId: AGENT, session: SESSION, clockSkewMs: 5_000, ...opts });
}

describe("verifier", () => {
  it("accepts an envelope signed by the pinned key, addressed to this agent, not expired", async () => {
    const key = await keyPair();
    const p = payload();
    const verdict = await (await verifierFor(key)).checkEnvelope(await signEnvelope(p, key));
    expect(verdict).toEqual({ ok: true, payload: p });
  });

  it("pins every key it is given: an envelope signed by the second of two pinned keys is accepted (rotation)", async () => {
    const current = await keyPair();
    const next = await keyPair();
    const verifier = await verifierFor([current, next]);
    expect((await verifier.checkEnvelope(await signEnvelope(payload(), next))).ok).toBe(true);
    expect((await verifier.checkEnvelope(await signEnvelope(payload(), current))).ok).toBe(true);
    expect(await verifier.checkEnvelope(await signEnvelope(payload(), await keyPair()))).toMatchObject({ ok: false, code: "signature_rejected" });
  });

  it("refuses an envelope issued for another session of this agent (one from before a restart), or for none", async () => {
    const key = await keyPair();
    const verifier = await verifierFor(key);
    expect(await verifier.checkEnvelope(await signEnvelope(payload({ session: "an-earlier-run-0123456789" }), key))).toMatchObject({ ok: false, code: "session_mismatch" });
    const { session: _, ...noSession } = payload();
    expect(await verifier.checkEnvelope(await signEnvelope(noSession as TaskPayload, key))).toMatchObject({ ok: false, code: "session_mismatch" });
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

  it("names the lease ids of a malformed payload it can still read, so they can be reported refused", async () => {
    const key = await keyPair();
    const verifier = await verifierFor(key);
    const p = payload();
    const wrongVersion = await signEnvelope({ ...p, v: 2 } as unknown as typeof p, key);
    expect(await verifier.checkEnvelope(wrongVersion)).toMatchObject({
      ok: false,
      code: "malformed_envelope",
      payload: { tasks: [{ leaseId: p.tasks[0]!.leaseId, jobId: p.tasks[0]!.jobId }] },
    });
  });

  it("refuses, never throws on, an envelope whose sig or kid is not a string (an object that cannot be printed, say)", async () => {
    const key = await keyPair();
    const verifier = await verifierFor(key);
    const good = await signEnvelope(payload(), key);
    for (const junk of [{ toString: null }, { toString: 1, valueOf: 1 }, 7, null, ["a"]]) {
      expect(await verifier.checkEnvelope({ ...good, kid: junk }), `kid ${JSON.stringify(junk)}`).toMatchObject({ ok: false, code: "signature_rejected" });
      expect(await verifier.checkEnvelope({ ...good, sig: junk }), `sig ${JSON.stringify(junk)}`).toMatchObject({ ok: false, code: "signature_rejected" });
    }
    expect(await verifier.checkEnvelope({ ...good, payload: { toString: null } })).toMatchObject({ ok: false, code: "malformed_envelope" });
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

describe("submitter trust (--trust-submitter)", () => {
  const fnHash = "b".repeat(64);
  const task = (over: Partial<Task> = {}): Task => ({ jobId: "q.b1xxxxxxxx.0", leaseId: "q.l1xxxxxxxx", attempt: 1, queue: "q", fnHash, input: { n: 1 }, timeoutMs: 1000, ...over });
  const signed = async (key: SigningKey, over: Partial<Task> = {}): Promise<Task> =>
    task({ signer: key.jwk.x, sig: await signJob(key.privateKey, fnHash, { n: 1 }), ...over });

  it("runs a task signed by a trusted submitter for exactly its function and input", async () => {
    const [first, second] = [await keyPair(), await keyPair()];
    const trust = (await SubmitterTrust.create(await parsePublicKeys(`${first.jwk.x},${second.jwk.x}`)))!;
    expect(await trust.check(await signed(first))).toEqual({ ok: true });
    expect(await trust.check(await signed(second))).toEqual({ ok: true });
  });

  it("refuses, as submitter_untrusted, an unsigned task, another key's, a borrowed signer name, and a changed input or function", async () => {
    const trusted = await keyPair();
    const other = await keyPair();
    const trust = (await SubmitterTrust.create(await parsePublicKeys(trusted.jwk.x)))!;
    const cases: Record<string, Task> = {
      unsigned: task(),
      "signed by another key": await signed(other),
      "another key's signature under the trusted name": { ...(await signed(other)), signer: trusted.jwk.x },
      "input changed after signing": { ...(await signed(trusted)), input: { n: 2 } },
      "function changed after signing": { ...(await signed(trusted)), fnHash: "c".repeat(64) },
      "garbage signature": { ...(await signed(trusted)), sig: "not-a-signature" },
    };
    for (const [name, t] of Object.entries(cases)) expect(await trust.check(t), name).toMatchObject({ ok: false, code: "submitter_untrusted" });
  });

  it("is off without trusted keys", async () => {
    expect(await SubmitterTrust.create([])).toBeNull();
  });
});
