// End-to-end trust, opt-in. An agent started with --trust-submitter runs only
// tasks that one of those submitters signed for exactly this function (by
// its hash, already checked against the source) and this input — so neither
// a compromised coordinator nor anyone holding the submit token can make it
// run code. Without the flag, signatures are not looked at.

import { importSignerKey, verifyJob, type PublicJwk, type Task } from "../../src/protocol/client.js";
import { AgentError } from "./errors.js";

export type TrustVerdict = { ok: true } | { ok: false; code: "submitter_untrusted"; reason: string };

export class SubmitterTrust {
  private constructor(private readonly keys: Map<string, CryptoKey>) {}

  /** Imports the trusted keys once; null when none are given (trust is then not required). */
  static async create(trusted: PublicJwk[]): Promise<SubmitterTrust | null> {
    if (trusted.length === 0) return null;
    const keys = new Map<string, CryptoKey>();
    for (const { x } of trusted) {
      const key = await importSignerKey(x);
      if (!key) throw new AgentError("bad_trust_key", "--trust-submitter holds a key that is not an Ed25519 public key");
      keys.set(x, key);
    }
    return new SubmitterTrust(keys);
  }

  /** Whether `task` carries a trusted submitter's valid signature over its fnHash and input. */
  async check(task: Task): Promise<TrustVerdict> {
    if (typeof task.signer !== "string" || typeof task.sig !== "string") return { ok: false, code: "submitter_untrusted", reason: "the task is not signed" };
    const key = this.keys.get(task.signer);
    if (!key) return { ok: false, code: "submitter_untrusted", reason: "the task's signer is not trusted" };
    if (!(await verifyJob(key, task.sig, task.fnHash, task.input))) {
      return { ok: false, code: "submitter_untrusted", reason: "the signature does not match the task's function and input" };
    }
    return { ok: true };
  }
}
