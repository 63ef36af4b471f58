// The globals a task gets inside its vm realm: the web-platform subset the
// sandbox builds there (no Node APIs), each checked against what the
// platform itself answers.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/protocol/index.js";
import { SandboxPool } from "../../worker-agent/src/sandbox.js";

const agentDir = fileURLToPath(new URL("../../worker-agent/", import.meta.url));
const childPath = join(agentDir, "dist", "sandbox-child.js");
let pool: SandboxPool;
let seq = 0;

async function valueOf(source: string, input: unknown = null): Promise<any> {
  seq++;
  const task = { jobId: `g.job${seq}aaaaaa.0`, leaseId: `g.lease${seq}aaaaaa`, attempt: 1, queue: "g", fnHash: await sha256Hex(source), input, timeoutMs: 5_000 };
  const outcome = await pool.run(task, source);
  if (!outcome.ok) throw new Error(`task failed: ${JSON.stringify(outcome.error)}`);
  return outcome.value;
}

beforeAll(async () => {
  if (!existsSync(childPath)) execFileSync(process.execPath, [join(agentDir, "build.mjs")]);
  pool = new SandboxPool({ childPath, size: 1, maxMemoryMb: 128 });
  await pool.start();
});
afterAll(() => pool?.close());

describe("globals inside a task", () => {
  it("has exactly the documented set of globals beyond the language's own", async () => {
    const names = await valueOf("() => Object.getOwnPropertyNames(globalThis).sort()");
    const platform = [
      "AbortController", "AbortSignal", "DOMException", "Event", "EventTarget", "Headers", "Response", "TextDecoder", "TextEncoder",
      "URL", "URLSearchParams", "atob", "btoa", "clearImmediate", "clearInterval", "clearTimeout", "console", "crypto", "fetch",
      "queueMicrotask", "setImmediate", "setInterval", "setTimeout", "structuredClone",
    ];
    for (const name of platform) expect(names).toContain(name);
    for (const name of ["process", "require", "module", "Buffer", "global", "WebSocket", "Worker", "navigator", "performance"]) expect(names).not.toContain(name);
  });

  it("TextEncoder and TextDecoder round-trip UTF-8 and report bad bytes", async () => {
    const text = "héllo € 𝄞 ✓";
    const value = await valueOf(`(t) => {
      const bytes = new TextEncoder().encode(t);
      let fatal; try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff, 0x41])); } catch (e) { fatal = e.name; }
      return { bytes: [...bytes], back: new TextDecoder().decode(bytes), lenient: new TextDecoder().decode(new Uint8Array([0xff, 0x41])), fatal };
    }`, text);
    expect(value).toEqual({ bytes: [...Buffer.from(text)], back: text, lenient: "\ufffdA", fatal: "TypeError" });
  });

  it("URL and URLSearchParams parse like the platform and stay in step", async () => {
    const value = await valueOf(`() => {
      const u = new URL("../b/c?x=1&y=a+b#frag", "https://user:pw@example.com:8443/a/z");
      u.searchParams.append("z", "ü &");
      u.hash = "";
      return { href: u.href, origin: u.origin, host: u.host, path: u.pathname, search: u.search, y: u.searchParams.get("y"),
        all: [...new URLSearchParams({ a: 1, b: "two" })], canParse: [URL.canParse("nope"), URL.canParse("/p", "http://h")] };
    }`);
    const u = new URL("../b/c?x=1&y=a+b#frag", "https://user:pw@example.com:8443/a/z");
    u.searchParams.append("z", "ü &");
    u.hash = "";
    expect(value).toEqual({ href: u.href, origin: u.origin, host: u.host, path: u.pathname, search: u.search, y: "a b", all: [["a", "1"], ["b", "two"]], canParse: [false, true] });
  });

  it("atob, btoa and structuredClone", async () => {
    const value = await valueOf(`() => {
      const o = { d: new Date(5), m: new Map([[1, new Set(["s"])]]), bytes: new Uint8Array([1, 2]) };
      o.self = o;
      const c = structuredClone(o);
      let fn; try { structuredClone(() => 1); } catch (e) { fn = e.name; }
      return { b64: btoa("hi\\u00ff"), back: atob("aGn/"), time: c.d.getTime(), set: [...c.m.get(1)], bytes: [...c.bytes], cycle: c.self === c, copy: c !== o, fn };
    }`);
    expect(value).toEqual({ b64: Buffer.from("hi\u00ff", "latin1").toString("base64"), back: "hi\u00ff", time: 5, set: ["s"], bytes: [1, 2], cycle: true, copy: true, fn: "DataCloneError" });
  });

  it("crypto: getRandomValues, randomUUID and subtle.digest", async () => {
    const value = await valueOf(`async () => {
      const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
      const data = new TextEncoder().encode("abc");
      return { sha256: hex(await crypto.subtle.digest("SHA-256", data)), sha1: hex(await crypto.subtle.digest({ name: "SHA-1" }, data)),
        random: crypto.getRandomValues(new Uint32Array(8)).some((n) => n !== 0), uuid: crypto.randomUUID() };
    }`);
    expect(value.sha256).toBe(createHash("sha256").update("abc").digest("hex"));
    expect(value.sha1).toBe(createHash("sha1").update("abc").digest("hex"));
    expect(value.random).toBe(true);
    expect(value.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("crypto.subtle.digest of every byte value, of a view into a larger buffer, and of more than 8,192 bytes", async () => {
    const value = await valueOf(`async () => {
      const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
      const big = new Uint8Array(20000).map((_, i) => (i * 7) & 255);
      return { all: hex(await crypto.subtle.digest("SHA-256", new Uint8Array(256).map((_, i) => i))),
        view: hex(await crypto.subtle.digest("SHA-256", new DataView(big.buffer, 100, 300))),
        big: hex(await crypto.subtle.digest("SHA-512", big)), empty: hex(await crypto.subtle.digest("SHA-256", new ArrayBuffer(0))) };
    }`);
    const big = Buffer.from(Uint8Array.from({ length: 20000 }, (_, i) => (i * 7) & 255));
    expect(value.all).toBe(createHash("sha256").update(Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => i))).digest("hex"));
    expect(value.view).toBe(createHash("sha256").update(big.subarray(100, 400)).digest("hex"));
    expect(value.big).toBe(createHash("sha512").update(big).digest("hex"));
    expect(value.empty).toBe(createHash("sha256").update("").digest("hex"));
  });

  it("timers, queueMicrotask, events, AbortSignal.timeout and any; console is a silent no-op", async () => {
    const value = await valueOf(`async () => {
      const order = [];
      await new Promise((done) => {
        setTimeout(() => order.push("timeout"), 5);
        setImmediate(() => order.push("immediate"));
        queueMicrotask(() => order.push("microtask"));
        let n = 0;
        const id = setInterval(() => { if (++n === 3) { clearInterval(id); done(); } }, 2);
        clearTimeout(setTimeout(() => order.push("cleared"), 1));
      });
      const target = new EventTarget();
      let got;
      target.addEventListener("ping", (e) => { got = e.type; }, { once: true });
      target.dispatchEvent(new Event("ping"));
      const reason = await new Promise((r) => AbortSignal.timeout(5).addEventListener("abort", (e) => r(e.target.reason.name)));
      const any = AbortSignal.any([new AbortController().signal, AbortSignal.abort("why")]);
      return { order, got, reason, any: [any.aborted, any.reason], log: console.log("x") === undefined };
    }`);
    expect(value).toEqual({ order: ["microtask", "immediate", "timeout"], got: "ping", reason: "TimeoutError", any: [true, "why"], log: true });
  });
});
