// Runs INSIDE a task's vm context (see realm-events.ts for the rules): the
// timers, queueMicrotask, console, crypto and fetch a task sees. Each is a
// function of this realm; where it needs the agent's realm (a real timer,
// random bytes, a digest, a request) it calls one of the `host` bridge
// functions with primitives and gets primitives back — never an object, so
// nothing from outside can be reached through a prototype or constructor.

import type { RealmHooks } from "./realm-events.js";

/** The bridge functions the agent's realm offers one task realm. Arguments and results are primitives only. */
export interface Host {
  timerSet(id: number, ms: number, repeat: boolean): void;
  timerClear(id: number): void;
  /** `n` random bytes as a latin1 string. */
  random(n: number): string;
  /** The digest of latin1 `data` as a latin1 string, or "" for an unknown algorithm. */
  digest(algorithm: string, data: string): string;
  /** Starts a request (only when the volunteer allowed the network); answers through fetchDone/fetchFail. */
  fetchStart(id: number, url: string, method: string, headersJson: string, body: string | null): void;
  fetchAbort(id: number): void;
  /** JSON of a URL's parts (href, origin, protocol, ...), or "" when `input` is not a URL. */
  urlParse(input: string, base: string | undefined): string;
  /** Sets one part of `href`; JSON of the new parts, or "" when refused. */
  urlSet(href: string, part: string, value: string): string;
}

/** What the runtime gives the agent's realm: entry points that take primitives. */
export interface RuntimeControl {
  fire(timerId: number): void;
  fetchDone(id: number, status: number, statusText: string, url: string, headersJson: string, body: string): void;
  fetchFail(id: number, message: string): void;
  /** Drops timers and requests left over from a finished task. */
  reset(): void;
}

export function installRuntime(g: any, hooks: RealmHooks, host: Host, allowNet: boolean): RuntimeControl {
  const { timerSet, timerClear, random, digest, fetchStart, fetchAbort } = host;
  const apply = Reflect.apply;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const { DOMException, TextEncoder, TextDecoder, URLSearchParams } = g;
  const encoder = new TextEncoder();

  // --- timers: ids are numbers; the real timers live in the agent's realm ---
  const timers = new Map<number, { fn: Function; args: unknown[]; repeat: boolean }>();
  let lastTimer = 0;
  const schedule = (fn: unknown, ms: unknown, args: unknown[], repeat: boolean): number => {
    if (typeof fn !== "function") throw new TypeError("the callback must be a function (strings are not evaluated here)");
    const id = ++lastTimer;
    const delay = Number(ms);
    timers.set(id, { fn, args, repeat });
    // -1 asks for an immediate; anything else out of range is 0, as in Node.
    timerSet(id, delay === -1 ? -1 : delay >= 0 && delay < 2 ** 31 ? delay : 0, repeat);
    return id;
  };
  const clear = (id: unknown): void => {
    const n = Number(id);
    if (timers.delete(n)) timerClear(n);
  };
  hooks.setTimeout = (fn, ms) => schedule(fn, ms, [], false);
  const fire = (id: number): void => {
    const timer = timers.get(id);
    if (!timer) return;
    if (!timer.repeat) timers.delete(id);
    try {
      apply(timer.fn, undefined, timer.args);
    } catch (err) {
      hooks.stray(err);
    }
  };
  const resolved = Promise.resolve();
  const queueMicrotask = (fn: unknown): void => {
    if (typeof fn !== "function") throw new TypeError("queueMicrotask needs a function");
    resolved.then(() => fn()).catch(hooks.stray);
  };

  // --- console: output is discarded (a task's logs are not the volunteer's business) ---
  const console: Record<string, () => void> = {};
  for (const name of ["log", "info", "warn", "error", "debug", "trace", "dir", "dirxml", "table", "group", "groupCollapsed", "groupEnd", "time", "timeEnd", "timeLog", "count", "countReset", "assert", "clear"]) {
    console[name] = () => {};
  }

  // --- crypto: random values and digests from the platform, bytes as latin1 strings ---
  const toLatin1 = (bytes: Uint8Array): string => {
    // apply() takes the typed array as it is; a spread would iterate it first.
    if (bytes.length <= 8192) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    let s = "";
    for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
    return s;
  };
  const fromLatin1 = (s: string): Uint8Array => {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  };
  const viewBytes = (data: unknown): Uint8Array => {
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    throw new TypeError("data must be an ArrayBuffer or an ArrayBufferView");
  };
  const crypto = {
    getRandomValues<T extends ArrayBufferView>(array: T): T {
      if (!(array instanceof Int8Array || array instanceof Uint8Array || array instanceof Uint8ClampedArray || array instanceof Int16Array ||
        array instanceof Uint16Array || array instanceof Int32Array || array instanceof Uint32Array || array instanceof BigInt64Array || array instanceof BigUint64Array)) {
        throw new TypeError("getRandomValues needs an integer typed array");
      }
      if (array.byteLength > 65536) throw new DOMException("getRandomValues takes at most 65536 bytes", "QuotaExceededError");
      viewBytes(array).set(fromLatin1(random(array.byteLength)));
      return array;
    },
    randomUUID(): string {
      const b = fromLatin1(random(16));
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
    subtle: {
      async digest(algorithm: unknown, data: unknown): Promise<ArrayBuffer> {
        const name = typeof algorithm === "object" && algorithm !== null ? (algorithm as { name?: unknown }).name : algorithm;
        const out = digest(String(name), toLatin1(viewBytes(data)));
        if (typeof out !== "string" || out === "") throw new DOMException(`Unrecognized algorithm name ${String(name)}`, "NotSupportedError");
        return fromLatin1(out).buffer as ArrayBuffer;
      },
    },
  };

  // --- fetch: only when the volunteer passed --allow-net; the response is rebuilt here ---
  class Headers {
    #map = new Map<string, string>();
    constructor(init?: unknown) {
      if (init instanceof Headers) for (const [k, v] of init) this.append(k, v);
      else if (typeof init === "object" && init !== null) {
        const pairs = typeof (init as any)[Symbol.iterator] === "function" ? [...(init as Iterable<[unknown, unknown]>)] : Object.entries(init);
        for (const [k, v] of pairs) this.append(k, v);
      }
    }
    append(name: unknown, value: unknown): void {
      const k = String(name).toLowerCase();
      const v = String(value).trim();
      this.#map.set(k, this.#map.has(k) ? `${this.#map.get(k)}, ${v}` : v);
    }
    set(name: unknown, value: unknown): void { this.#map.set(String(name).toLowerCase(), String(value).trim()); }
    get(name: unknown): string | null { return this.#map.get(String(name).toLowerCase()) ?? null; }
    has(name: unknown): boolean { return this.#map.has(String(name).toLowerCase()); }
    delete(name: unknown): void { this.#map.delete(String(name).toLowerCase()); }
    forEach(fn: (value: string, key: string, headers: Headers) => void, thisArg?: unknown): void {
      for (const [k, v] of this) fn.call(thisArg, v, k, this);
    }
    *entries(): IterableIterator<[string, string]> { yield* [...this.#map].sort(([a], [b]) => (a < b ? -1 : 1)); }
    *keys(): IterableIterator<string> { for (const [k] of this.entries()) yield k; }
    *values(): IterableIterator<string> { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator](): IterableIterator<[string, string]> { return this.entries(); }
  }

  let fromRaw: (latin1: string, init: { status: number; statusText: string; headers: unknown; url: string }) => Response = () => {
    throw new TypeError("not ready");
  };
  class Response {
    #body: string;
    #used = false;
    static {
      fromRaw = (latin1, init) => {
        const response = new Response(null, init);
        response.#body = latin1;
        return response;
      };
    }
    readonly status: number;
    readonly statusText: string;
    readonly headers: Headers;
    readonly url: string;
    constructor(body: unknown = null, init?: { status?: unknown; statusText?: unknown; headers?: unknown; url?: unknown }) {
      this.#body = typeof body === "string" ? toLatin1(encoder.encode(body)) : body === null || body === undefined ? "" : toLatin1(viewBytes(body));
      this.status = init?.status === undefined ? 200 : Number(init.status);
      this.statusText = String(init?.statusText ?? "");
      this.headers = new Headers(init?.headers);
      this.url = String(init?.url ?? "");
    }
    get ok(): boolean { return this.status >= 200 && this.status < 300; }
    get bodyUsed(): boolean { return this.#used; }
    #take(): Uint8Array {
      if (this.#used) throw new TypeError("Body has already been used");
      this.#used = true;
      return fromLatin1(this.#body);
    }
    async bytes(): Promise<Uint8Array> { return this.#take(); }
    async arrayBuffer(): Promise<ArrayBuffer> { return this.#take().buffer as ArrayBuffer; }
    async text(): Promise<string> { return new TextDecoder().decode(this.#take()); }
    async json(): Promise<unknown> { return parse(await this.text()); }
  }

  const requests = new Map<number, { resolve: (r: Response) => void; reject: (e: unknown) => void }>();
  let lastRequest = 0;
  const networkDisabled = (): Error => {
    const err = new TypeError("network access is disabled on this agent (the volunteer did not start it with --allow-net)");
    Object.defineProperty(err, "code", { value: "ERR_NETWORK_DISABLED", enumerable: true });
    return err;
  };
  const bodyOf = (body: unknown, headers: Headers): string | null => {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") {
      if (!headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
      return toLatin1(encoder.encode(body));
    }
    if (body instanceof URLSearchParams) {
      if (!headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      return toLatin1(encoder.encode(String(body)));
    }
    return toLatin1(viewBytes(body));
  };
  const fetch = (input: unknown, init?: { method?: unknown; headers?: unknown; body?: unknown; signal?: any }): Promise<Response> =>
    new Promise((resolve, reject) => {
      if (!allowNet) return reject(networkDisabled());
      const url = String(input instanceof g.URL ? (input as any).href : typeof input === "object" && input !== null && "url" in input ? (input as any).url : input);
      const method = String(init?.method ?? "GET").toUpperCase();
      const headers = new Headers(init?.headers);
      const body = bodyOf(init?.body, headers);
      const signal = init?.signal;
      if (signal?.aborted) return reject(signal.reason);
      const id = ++lastRequest;
      requests.set(id, { resolve, reject });
      signal?.addEventListener?.("abort", () => {
        if (!requests.delete(id)) return;
        fetchAbort(id);
        reject(signal.reason);
      }, { once: true });
      fetchStart(id, url, method, stringify([...headers]), body);
    });
  const fetchDone = (id: number, status: number, statusText: string, url: string, headersJson: string, body: string): void => {
    const request = requests.get(id);
    if (!request) return;
    requests.delete(id);
    request.resolve(fromRaw(body, { status, statusText, headers: parse(headersJson), url }));
  };
  const fetchFail = (id: number, message: string): void => {
    const request = requests.get(id);
    if (!request) return;
    requests.delete(id);
    request.reject(new TypeError(`fetch failed: ${message}`));
  };

  hooks.define({
    setTimeout: (fn: unknown, ms?: unknown, ...args: unknown[]) => schedule(fn, ms, args, false),
    setInterval: (fn: unknown, ms?: unknown, ...args: unknown[]) => schedule(fn, ms, args, true),
    setImmediate: (fn: unknown, ...args: unknown[]) => schedule(fn, -1, args, false),
    clearTimeout: clear,
    clearInterval: clear,
    clearImmediate: clear,
    queueMicrotask,
    console,
    crypto,
    fetch,
    Headers,
    Response,
  });

  return {
    fire,
    fetchDone,
    fetchFail,
    reset(): void {
      for (const id of timers.keys()) timerClear(id);
      timers.clear();
      for (const id of requests.keys()) fetchAbort(id);
      requests.clear();
    },
  };
}
