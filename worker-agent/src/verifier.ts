// Decides whether a poll answer may run: the protocol's envelope check
// (signature under one of the pinned keys, addressee, this run's session
// nonce, expiry) plus the state only this agent holds — the lease ids it has
// already been given, so a captured envelope cannot be replayed to run a
// task twice, and one from before a restart is refused as session_mismatch.

import { createPublicKey, verify as nodeVerify } from "node:crypto";
import {
  importVerifyKeys,
  parsePayload,
  verifyEnvelope,
  type Envelope,
  type PublicJwk,
  type RejectionCode,
  type Verdict,
  type VerifyKey,
} from "../../src/protocol/client.js";

export interface VerifierOptions {
  /** Every key is accepted (key rotation). */
  publicKeys: PublicJwk[];
  agentId: string;
  /** The nonce this run sends with each poll; envelopes must echo it. */
  session: string;
  clockSkewMs: number;
  /** How many lease ids to remember; the oldest are forgotten first. */
  maxSeenLeases?: number;
  now?: () => number;
}

export class Verifier {
  private readonly seen = new Set<string>();
  private readonly maxSeen: number;
  private readonly now: () => number;

  private constructor(
    private readonly keys: VerifyKey[],
    private readonly opts: VerifierOptions,
  ) {
    this.maxSeen = opts.maxSeenLeases ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** Imports the pinned keys once, each also as a node:crypto key for the synchronous check. */
  static async create(opts: VerifierOptions): Promise<Verifier> {
    const keys = await importVerifyKeys(opts.publicKeys);
    for (const [i, key] of keys.entries()) {
      const { x } = opts.publicKeys[i]!;
      const nodeKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
      key.verifySync = (message, sig) => nodeVerify(null, message, nodeKey, sig);
    }
    return new Verifier(keys, opts);
  }

  /**
   * Checks a whole poll answer. `envelope` is untrusted JSON straight off the
   * wire: whatever its shape, the answer is a verdict, never an exception.
   */
  async checkEnvelope(envelope: unknown): Promise<Verdict> {
    const e = envelope as Partial<Envelope> | null;
    // Only strings reach the protocol's check: a kid or sig of another type (an object whose
    // toString is not callable, say) would otherwise throw while being described.
    if (typeof e !== "object" || e === null || typeof e.payload !== "string" || typeof e.sig !== "string" || typeof e.kid !== "string") {
      const payload = typeof e?.payload === "string" ? parsePayload(e.payload) : null;
      return { ok: false, code: payload ? "signature_rejected" : "malformed_envelope", reason: "the envelope's payload, sig and kid are not all strings", ...(payload ? { payload } : {}) };
    }
    try {
      return await verifyEnvelope(e as Envelope, this.keys, {
        agentId: this.opts.agentId,
        session: this.opts.session,
        now: this.now(),
        skewMs: this.opts.clockSkewMs,
      });
    } catch {
      return { ok: false, code: "malformed_envelope", reason: "the envelope could not be checked" };
    }
  }

  /**
   * Records a lease id from a verified envelope: null the first time,
   * `lease_replayed` every time after (within the last `maxSeenLeases`).
   */
  checkLease(leaseId: string): RejectionCode | null {
    if (this.seen.has(leaseId)) return "lease_replayed";
    this.seen.add(leaseId);
    if (this.seen.size > this.maxSeen) {
      // A Set iterates in insertion order, so its first entry is the oldest.
      this.seen.delete(this.seen.values().next().value as string);
    }
    return null;
  }
}
