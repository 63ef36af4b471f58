// Decides whether a poll answer may run: the protocol's envelope check
// (signature under a pinned key, addressee, expiry) plus the state only this
// agent holds — the lease ids it has already been given, so a captured
// envelope cannot be replayed to run a task twice.

import {
  importVerifyKeys,
  verifyEnvelope,
  type Envelope,
  type PublicJwk,
  type RejectionCode,
  type Verdict,
  type VerifyKey,
} from "../../src/protocol/client.js";

export interface VerifierOptions {
  publicKeys: PublicJwk[];
  agentId: string;
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

  /** Imports the pinned keys once. */
  static async create(opts: VerifierOptions): Promise<Verifier> {
    return new Verifier(await importVerifyKeys(opts.publicKeys), opts);
  }

  /** Checks a whole poll answer. `envelope` is untrusted JSON straight off the wire. */
  checkEnvelope(envelope: unknown): Promise<Verdict> {
    return verifyEnvelope(envelope as Envelope, this.keys, {
      agentId: this.opts.agentId,
      now: this.now(),
      skewMs: this.opts.clockSkewMs,
    });
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
