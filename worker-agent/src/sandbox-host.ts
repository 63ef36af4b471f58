// The agent-realm half of a task realm's bridge (the other half is
// realm-runtime.ts): real timers, random bytes, digests, URL parsing and —
// only with --allow-net — requests. Every function here takes primitives,
// returns primitives and never throws into the task's realm: an error of this
// realm reaching the task would hand it this realm's constructors.

import { createHash, randomBytes } from "node:crypto";
import type { Host, RuntimeControl } from "./realm-runtime.js";

/** Largest response body a task's fetch reads. */
export const MAX_FETCH_BYTES = 16 * 1024 * 1024;
const DIGESTS: Record<string, string> = { "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };
const URL_PARTS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"] as const;
const SETTABLE = new Set<string>(URL_PARTS.filter((p) => p !== "origin"));

export interface HostOptions {
  allowNet: boolean;
  /** The platform fetch, kept aside before the global was removed; only used with allowNet. */
  fetch?: typeof fetch;
}

function partsOf(url: URL): string {
  const parts: Record<string, string> = {};
  for (const p of URL_PARTS) parts[p] = url[p];
  return JSON.stringify(parts);
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // The realm's entry points catch their own errors; anything here is a broken realm, and its task times out.
  }
}

export class TaskHost {
  private readonly timers = new Map<number, NodeJS.Timeout | NodeJS.Immediate>();
  private readonly requests = new Map<number, AbortController>();
  // The realm's entry points, set once it has been bootstrapped. Always called
  // as plain functions (never as methods), so no object of this realm becomes their `this`.
  private fire: RuntimeControl["fire"] | null = null;
  private fetchDone: RuntimeControl["fetchDone"] | null = null;
  private fetchFail: RuntimeControl["fetchFail"] | null = null;

  constructor(private readonly opts: HostOptions) {}

  connect(fire: RuntimeControl["fire"], fetchDone: RuntimeControl["fetchDone"], fetchFail: RuntimeControl["fetchFail"]): void {
    this.fire = fire;
    this.fetchDone = fetchDone;
    this.fetchFail = fetchFail;
  }

  /** The bridge handed to the realm's bootstrap: plain functions, no `this`. */
  bridge(): Host {
    return {
      timerSet: (id, ms, repeat) => this.timerSet(id, ms, repeat),
      timerClear: (id) => this.timerClear(id),
      random: (n) => (typeof n === "number" && n >= 0 && n <= 65536 ? randomBytes(n).toString("latin1") : ""),
      digest: (algorithm, data) => {
        const name = typeof algorithm === "string" ? DIGESTS[algorithm.toUpperCase()] : undefined;
        if (!name || typeof data !== "string") return "";
        return createHash(name).update(data, "latin1").digest("binary"); // "binary" is latin1
      },
      urlParse: (input, base) => {
        if (typeof input !== "string" || (base !== undefined && typeof base !== "string")) return "";
        try {
          return partsOf(new URL(input, base));
        } catch {
          return "";
        }
      },
      urlSet: (href, part, value) => {
        if (typeof href !== "string" || typeof part !== "string" || typeof value !== "string" || !SETTABLE.has(part)) return "";
        try {
          const url = new URL(href);
          (url as unknown as Record<string, string>)[part] = value;
          return partsOf(url);
        } catch {
          return "";
        }
      },
      fetchStart: (id, url, method, headersJson, body) => this.fetchStart(id, url, method, headersJson, body),
      fetchAbort: (id) => {
        this.requests.get(id)?.abort();
        this.requests.delete(id);
      },
    };
  }

  private timerSet(id: number, ms: number, repeat: boolean): void {
    if (typeof id !== "number" || typeof ms !== "number") return;
    const fire = (): void => {
      if (!repeat) this.timers.delete(id);
      const { fire: enter } = this;
      quietly(() => enter?.(id));
    };
    this.timers.set(id, ms === -1 ? setImmediate(fire) : repeat ? setInterval(fire, Math.max(1, ms)) : setTimeout(fire, ms));
  }

  private timerClear(id: number): void {
    const timer = this.timers.get(id);
    if (timer === undefined) return;
    this.timers.delete(id);
    clearTimeout(timer as NodeJS.Timeout);
    clearInterval(timer as NodeJS.Timeout);
    clearImmediate(timer as NodeJS.Immediate);
  }

  private fetchStart(id: number, url: string, method: string, headersJson: string, body: string | null): void {
    const { fetchFail, fetchDone } = this;
    const fail = (message: string): void => quietly(() => fetchFail?.(id, message));
    const fetchImpl = this.opts.fetch;
    if (!this.opts.allowNet || !fetchImpl) return fail("network access is disabled on this agent");
    if (typeof id !== "number" || typeof url !== "string" || typeof method !== "string" || typeof headersJson !== "string") return fail("bad request");
    const controller = new AbortController();
    this.requests.set(id, controller);
    void (async () => {
      const response = await fetchImpl(url, {
        method,
        headers: JSON.parse(headersJson) as Array<[string, string]>,
        body: typeof body === "string" ? Buffer.from(body, "latin1") : undefined,
        signal: controller.signal,
        redirect: "follow",
      });
      const chunks: Buffer[] = [];
      let size = 0;
      const reader = response.body?.getReader();
      for (let part = await reader?.read(); reader && part && !part.done; part = await reader.read()) {
        size += part.value.byteLength;
        if (size > MAX_FETCH_BYTES) {
          controller.abort();
          throw new Error(`the response is larger than ${MAX_FETCH_BYTES} bytes`);
        }
        chunks.push(Buffer.from(part.value));
      }
      if (!this.requests.delete(id)) return;
      const pairs: Array<[string, string]> = [];
      response.headers.forEach((value, name) => pairs.push([name, value]));
      const headers = JSON.stringify(pairs);
      const text = Buffer.concat(chunks).toString("latin1");
      quietly(() => fetchDone?.(id, response.status, response.statusText, response.url, headers, text));
    })().catch((err: unknown) => {
      if (!this.requests.delete(id)) return;
      const e = err as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
      const cause = typeof e?.cause?.code === "string" ? e.cause.code : typeof e?.cause?.message === "string" ? e.cause.message : "";
      fail(`${typeof e?.message === "string" ? e.message : "error"}${cause ? ` (${cause})` : ""}`);
    });
  }

  /** Ends what a finished task left behind: its timers and requests. */
  reset(): void {
    for (const id of [...this.timers.keys()]) this.timerClear(id);
    for (const controller of this.requests.values()) controller.abort();
    this.requests.clear();
  }
}
