// Runs INSIDE a task's vm context (see realm-events.ts for the rules):
// TextEncoder and TextDecoder (UTF-8), atob and btoa, and structuredClone,
// written in plain JavaScript so that nothing from the agent's realm is
// handed to the task.

import type { RealmHooks } from "./realm-events.js";

export function installEncoding(g: any, hooks: RealmHooks): void {
  const DOMException = g.DOMException;

  function utf8Encode(input: string): Uint8Array {
    const out = new Uint8Array(input.length * 3);
    let n = 0;
    for (let i = 0; i < input.length; i++) {
      let c = input.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < input.length) {
        const d = input.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
      if (c < 0x80) out[n++] = c;
      else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 63);
      } else if (c < 0x10000) {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
      } else {
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 63);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
      }
    }
    return out.slice(0, n);
  }

  function utf8Decode(bytes: Uint8Array, fatal: boolean): string {
    let out = "";
    let chunk: number[] = [];
    const push = (c: number): void => {
      if (c > 0xffff) {
        c -= 0x10000;
        chunk.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
      } else chunk.push(c);
      if (chunk.length > 8192) {
        out += String.fromCharCode(...chunk);
        chunk = [];
      }
    };
    const bad = (): void => {
      if (fatal) throw new TypeError("The encoded data was not valid for encoding utf-8");
      push(0xfffd);
    };
    for (let i = 0; i < bytes.length; ) {
      const b = bytes[i]!;
      const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
      if (need < 0) {
        bad();
        i++;
        continue;
      }
      let c = need === 0 ? b : b & (0x3f >> need);
      let j = 1;
      for (; j <= need; j++) {
        const next = bytes[i + j];
        const lo = j === 1 && b === 0xe0 ? 0xa0 : j === 1 && b === 0xf0 ? 0x90 : 0x80;
        const hi = j === 1 && b === 0xed ? 0x9f : j === 1 && b === 0xf4 ? 0x8f : 0xbf;
        if (next === undefined || next < lo || next > hi) break;
        c = (c << 6) | (next & 63);
      }
      if (j <= need) {
        bad();
        i += j;
        continue;
      }
      push(c);
      i += need + 1;
    }
    return out + String.fromCharCode(...chunk);
  }

  function bytesOf(input: unknown): Uint8Array {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer || input instanceof SharedArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError("The input must be an ArrayBuffer or an ArrayBufferView");
  }

  class TextEncoder {
    get encoding(): string { return "utf-8"; }
    encode(input: unknown = ""): Uint8Array {
      return utf8Encode(String(input));
    }
    encodeInto(input: unknown, dest: Uint8Array): { read: number; written: number } {
      const text = String(input);
      let read = 0;
      let written = 0;
      for (const ch of text) {
        const bytes = utf8Encode(ch);
        if (written + bytes.length > dest.length) break;
        dest.set(bytes, written);
        written += bytes.length;
        read += ch.length;
      }
      return { read, written };
    }
  }

  class TextDecoder {
    #fatal: boolean;
    #ignoreBOM: boolean;
    constructor(label: unknown = "utf-8", options?: { fatal?: unknown; ignoreBOM?: unknown }) {
      const name = String(label).trim().toLowerCase();
      if (name !== "utf-8" && name !== "utf8" && name !== "unicode-1-1-utf-8") {
        throw new RangeError(`The "${name}" encoding is not supported in this sandbox (only utf-8)`);
      }
      this.#fatal = !!options?.fatal;
      this.#ignoreBOM = !!options?.ignoreBOM;
    }
    get encoding(): string { return "utf-8"; }
    get fatal(): boolean { return this.#fatal; }
    get ignoreBOM(): boolean { return this.#ignoreBOM; }
    decode(input?: unknown): string {
      let bytes = bytesOf(input);
      if (!this.#ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      return utf8Decode(bytes, this.#fatal);
    }
  }

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  function btoa(input: unknown): string {
    const text = String(input);
    let out = "";
    for (let i = 0; i < text.length; i += 3) {
      const a = text.charCodeAt(i);
      const b = text.charCodeAt(i + 1);
      const c = text.charCodeAt(i + 2);
      if (a > 255 || b > 255 || c > 255) throw new DOMException("Invalid character", "InvalidCharacterError");
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += B64[n >> 18]! + B64[(n >> 12) & 63]! + (i + 1 < text.length ? B64[(n >> 6) & 63]! : "=") + (i + 2 < text.length ? B64[n & 63]! : "=");
    }
    return out;
  }

  function atob(input: unknown): string {
    let text = String(input).replace(/[\t\n\f\r ]/g, "");
    if (text.length % 4 === 0) text = text.replace(/==?$/, "");
    if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
    let out = "";
    let bits = 0;
    let value = 0;
    for (let i = 0; i < text.length; i++) {
      value = (value << 6) | B64.indexOf(text[i]!);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += String.fromCharCode((value >> bits) & 255);
      }
    }
    return out;
  }

  function structuredClone(value: unknown, options?: { transfer?: unknown[] }): unknown {
    if (options?.transfer?.length) throw new DOMException("transfer is not supported in this sandbox", "DataCloneError");
    const seen = new Map<unknown, unknown>();
    const clone = (v: any): any => {
      if (typeof v === "symbol") throw new DOMException(`${String(v)} could not be cloned.`, "DataCloneError");
      if (typeof v === "function") throw new DOMException("A function could not be cloned.", "DataCloneError");
      if (v === null || typeof v !== "object") return v;
      if (seen.has(v)) return seen.get(v);
      const keep = <T>(copy: T): T => (seen.set(v, copy), copy);
      if (v instanceof Date) return keep(new Date(v.getTime()));
      if (v instanceof RegExp) return keep(new RegExp(v.source, v.flags));
      if (v instanceof Boolean || v instanceof Number || v instanceof String || v instanceof BigInt) return keep(Object(v.valueOf()));
      if (v instanceof ArrayBuffer) return keep(v.slice(0));
      if (ArrayBuffer.isView(v)) {
        const buffer = clone(v.buffer);
        const Ctor = v.constructor as any;
        return keep(v instanceof DataView ? new DataView(buffer, v.byteOffset, v.byteLength) : new Ctor(buffer, v.byteOffset, (v as any).length));
      }
      if (v instanceof Map) {
        const copy = keep(new Map());
        for (const [k, x] of v) copy.set(clone(k), clone(x));
        return copy;
      }
      if (v instanceof Set) {
        const copy = keep(new Set());
        for (const x of v) copy.add(clone(x));
        return copy;
      }
      if (v instanceof Error) {
        const copy = keep(new Error(v.message));
        Object.defineProperty(copy, "name", { value: v.name, writable: true, configurable: true });
        if (typeof v.stack === "string") Object.defineProperty(copy, "stack", { value: v.stack, writable: true, configurable: true });
        return copy;
      }
      const copy: any = keep(Array.isArray(v) ? new Array(v.length) : {});
      for (const key of Object.keys(v)) copy[key] = clone(v[key]);
      return copy;
    };
    return clone(value);
  }

  hooks.define({ TextEncoder, TextDecoder, atob, btoa, structuredClone });
}
