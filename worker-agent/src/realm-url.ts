// Runs INSIDE a task's vm context (see realm-events.ts for the rules): URL
// and URLSearchParams. Parsing a URL is the platform's (WHATWG) parser in the
// agent's realm, reached through two bridge functions that take and return
// strings only: the parts of a URL travel as JSON text and are parsed here.

import type { RealmHooks } from "./realm-events.js";

import type { Host } from "./realm-runtime.js";

export function installUrl(hooks: RealmHooks, host: Pick<Host, "urlParse" | "urlSet">): void {
  const { urlParse, urlSet } = host;
  const parse = JSON.parse;
  const formEncode = (s: string): string =>
    encodeURIComponent((s as any).toWellFormed() as string).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const formDecode = (s: string): string => {
    const text = s.replace(/\+/g, " ");
    try {
      return decodeURIComponent(text);
    } catch {
      return text.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
        try {
          return decodeURIComponent(run);
        } catch {
          return run;
        }
      });
    }
  };

  let attach: (params: URLSearchParams, onChange: (query: string) => void) => void = () => {};

  class URLSearchParams {
    #list: Array<[string, string]> = [];
    #onChange: ((query: string) => void) | null = null;
    static {
      attach = (params, onChange) => { params.#onChange = onChange; };
    }
    constructor(init: unknown = "") {
      if (typeof init === "object" && init !== null) {
        if (typeof (init as any)[Symbol.iterator] === "function") {
          for (const pair of init as Iterable<unknown>) {
            const [k, v, extra] = [...(pair as Iterable<unknown>)];
            if (v === undefined || extra !== undefined) throw new TypeError("Each pair must have exactly two items");
            this.#list.push([String(k), String(v)]);
          }
        } else for (const key of Object.keys(init)) this.#list.push([key, String((init as any)[key])]);
      } else this.#parse(String(init));
    }
    #parse(query: string): void {
      this.#list = [];
      for (const part of (query.startsWith("?") ? query.slice(1) : query).split("&")) {
        if (!part) continue;
        const eq = part.indexOf("=");
        this.#list.push(eq < 0 ? [formDecode(part), ""] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
      }
    }
    #changed(): void {
      this.#onChange?.(this.toString());
    }
    /** Used by URL when its search changes. */
    static _reparse(params: URLSearchParams, query: string): void {
      params.#parse(query);
    }
    get size(): number { return this.#list.length; }
    append(name: unknown, value: unknown): void {
      this.#list.push([String(name), String(value)]);
      this.#changed();
    }
    delete(name: unknown, value?: unknown): void {
      const n = String(name);
      this.#list = this.#list.filter(([k, v]) => k !== n || (value !== undefined && v !== String(value)));
      this.#changed();
    }
    get(name: unknown): string | null {
      return this.#list.find(([k]) => k === String(name))?.[1] ?? null;
    }
    getAll(name: unknown): string[] {
      return this.#list.filter(([k]) => k === String(name)).map(([, v]) => v);
    }
    has(name: unknown, value?: unknown): boolean {
      return this.#list.some(([k, v]) => k === String(name) && (value === undefined || v === String(value)));
    }
    set(name: unknown, value: unknown): void {
      const n = String(name);
      const i = this.#list.findIndex(([k]) => k === n);
      if (i < 0) this.#list.push([n, String(value)]);
      else {
        this.#list[i] = [n, String(value)];
        this.#list = this.#list.filter(([k], j) => k !== n || j <= i);
      }
      this.#changed();
    }
    sort(): void {
      this.#list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.#changed();
    }
    forEach(fn: (value: string, key: string, params: URLSearchParams) => void, thisArg?: unknown): void {
      for (const [k, v] of [...this.#list]) fn.call(thisArg, v, k, this);
    }
    *entries(): IterableIterator<[string, string]> {
      for (const [k, v] of [...this.#list]) yield [k, v];
    }
    *keys(): IterableIterator<string> {
      for (const [k] of [...this.#list]) yield k;
    }
    *values(): IterableIterator<string> {
      for (const [, v] of [...this.#list]) yield v;
    }
    [Symbol.iterator](): IterableIterator<[string, string]> {
      return this.entries();
    }
    toString(): string {
      return this.#list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join("&");
    }
  }
  const reparse = URLSearchParams._reparse;
  delete (URLSearchParams as any)._reparse;

  type Parts = Record<string, string>;
  const PARTS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

  class URL {
    #parts: Parts;
    #params: URLSearchParams;
    static {
      // Accessors for every part: getters read the parsed parts, setters re-parse through the bridge.
      for (const part of PARTS) {
        Object.defineProperty(URL.prototype, part, {
          get(this: URL): string {
            return this.#parts[part]!;
          },
          set(this: URL, value: unknown): void {
            if (part !== "origin") this.#set(part, value);
          },
          enumerable: true,
          configurable: true,
        });
      }
    }
    constructor(input: unknown, base?: unknown) {
      const href = String(input);
      const text = urlParse(href, base === undefined ? undefined : String(base));
      if (typeof text !== "string" || text === "") throw new TypeError(`Invalid URL: ${href.slice(0, 200)}`);
      this.#parts = parse(text);
      this.#params = new URLSearchParams(this.#parts.search);
      attach(this.#params, (query) => this.#set("search", query));
    }
    #set(part: string, value: unknown): void {
      const text = urlSet(this.#parts.href!, part, String(value));
      if (typeof text !== "string" || text === "") {
        if (part === "href") throw new TypeError(`Invalid URL: ${String(value).slice(0, 200)}`);
        return;
      }
      this.#parts = parse(text);
      reparse(this.#params, this.#parts.search!);
    }
    get searchParams(): URLSearchParams { return this.#params; }
    toString(): string { return this.#parts.href!; }
    toJSON(): string { return this.#parts.href!; }
    static canParse(input: unknown, base?: unknown): boolean {
      const text = urlParse(String(input), base === undefined ? undefined : String(base));
      return typeof text === "string" && text !== "";
    }
  }

  hooks.define({ URL, URLSearchParams });
}
