// Function sources by hash. Each source crosses the wire once per agent:
// concurrent tasks for the same function share one fetch, and a source is
// cached only after it hashes to the fnHash the coordinator signed.

import { FN_HASH_RE, sha256Hex } from "../../src/protocol/client.js";
import { AgentError } from "./errors.js";

/** Fetches `{ fnHash, source }` for a hash (GET /v1/agent/functions/:fnHash), retrying as it sees fit. */
export type SourceLoader = (fnHash: string) => Promise<unknown>;

export class FunctionCache {
  private readonly entries = new Map<string, Promise<string>>();
  /** Verified sources (their sizes count against maxBytes), for peek(): most tasks find theirs here without awaiting anything. */
  private readonly ready = new Map<string, string>();
  private bytes = 0;
  /** The most recently used hash: peek() of it, the common case, moves nothing. */
  private newest: string | undefined;

  constructor(
    private readonly load: SourceLoader,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The verified source for `fnHash` if it is cached, without waiting; a hit counts as a use, as get() does. */
  peek(fnHash: string): string | undefined {
    const source = this.ready.get(fnHash);
    if (source !== undefined && fnHash !== this.newest) this.touch(fnHash, this.entries.get(fnHash)!);
    return source;
  }

  /** Moves `fnHash` to the end of the eviction order (the least recently used source goes first). */
  private touch(fnHash: string, entry: Promise<string>): void {
    this.entries.delete(fnHash);
    this.entries.set(fnHash, entry);
    this.newest = fnHash;
  }

  /**
   * The verified source for `fnHash`. Throws AgentError `fn_hash_mismatch`
   * when the answer does not hash to it, `function_unavailable` when the
   * coordinator does not know it; other errors pass through.
   */
  get(fnHash: string): Promise<string> {
    const hit = this.entries.get(fnHash);
    if (hit) {
      this.touch(fnHash, hit);
      return hit;
    }
    const pending = this.fetch(fnHash);
    this.touch(fnHash, pending);
    pending.then(
      (source) => this.account(fnHash, source),
      () => this.entries.delete(fnHash),
    );
    return pending;
  }

  private async fetch(fnHash: string): Promise<string> {
    if (!FN_HASH_RE.test(fnHash)) throw new AgentError("fn_hash_mismatch", "fnHash is not a sha256 hex digest");
    let body: unknown;
    try {
      body = await this.load(fnHash);
    } catch (err) {
      if (err instanceof AgentError && err.status === 404) {
        throw new AgentError("function_unavailable", `the coordinator has no function ${fnHash.slice(0, 12)}`);
      }
      throw err;
    }
    const source = (body as { source?: unknown } | null)?.source;
    if (typeof source !== "string" || (await sha256Hex(source)) !== fnHash) {
      throw new AgentError("fn_hash_mismatch", `function source does not hash to ${fnHash.slice(0, 12)}`);
    }
    return source;
  }

  private account(fnHash: string, source: string): void {
    if (!this.entries.has(fnHash)) return;
    this.ready.set(fnHash, source);
    this.bytes += source.length;
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes || oldest === fnHash) break;
      const old = this.ready.get(oldest);
      if (old === undefined) continue; // still being fetched
      this.entries.delete(oldest);
      this.ready.delete(oldest);
      this.bytes -= old.length;
    }
  }
}
