// V8 CPU profiles of workerd's isolates, over the inspector (Chrome DevTools
// Protocol), as standard .cpuprofile files (Chrome DevTools, speedscope,
// bench/prof-summary.mjs).
//
// workerd started with an inspector address (Miniflare's `inspectorPort`
// option; 0 = a free port on 127.0.0.1) serves GET /json on that port: one
// target per Worker ("service"), webSocketDebuggerUrl ws://host:port/<name>.
// Each Worker has its own V8 isolate; a Worker's Durable Objects run in the
// Worker's isolate, so "core:user:" is the coordinator (src/index.ts and its
// Durable Objects). The other targets are Miniflare's own Workers: core:entry
// sees every request first and passes it on (not there in production),
// strip-cf-connecting-ip:0 and cache:* are idle in the bench.
//
// startWorkerdProfile(inspectorUrl) connects to every target and sends
// Profiler.enable, Profiler.setSamplingInterval, Profiler.start; stop(dir)
// sends Profiler.stop to each and writes one <prefix>-<target>.cpuprofile per
// target. The WebSocket client is `ws`, Miniflare's own dependency (no
// dependency added).
//
// How to read the profiles: one workerd thread runs every isolate and the
// event loop, so a sample of one isolate taken while the thread is elsewhere
// (another isolate, I/O, SQLite called from outside JS…) shows as "(program)"
// or "(idle)"; prof-summary.mjs gives percentages of the rest.

import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";

const requireFromMiniflare = createRequire(createRequire(import.meta.url).resolve("miniflare"));
const { WebSocket } = requireFromMiniflare("ws");

/** One CDP session over a WebSocket: send(method, params) → result. */
function cdpSession(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    let nextId = 1;
    const pending = new Map();
    ws.on("message", (data) => {
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (msg.id === undefined || !pending.has(msg.id)) return; // events
      const { resolve: ok, reject: fail, method } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) fail(new Error(`${method}: ${msg.error.message ?? JSON.stringify(msg.error)}`));
      else ok(msg.result);
    });
    ws.on("close", () => {
      for (const { reject: fail, method } of pending.values()) fail(new Error(`${method}: inspector connection closed`));
      pending.clear();
    });
    ws.once("error", reject);
    ws.once("open", () => {
      ws.on("error", () => {});
      resolve({
        send(method, params = {}, timeoutMs = 30_000) {
          return new Promise((ok, fail) => {
            if (ws.readyState !== WebSocket.OPEN) return fail(new Error(`${method}: inspector connection closed`));
            const id = nextId++;
            const timer = setTimeout(() => {
              pending.delete(id);
              fail(new Error(`${method}: no answer within ${timeoutMs} ms`));
            }, timeoutMs);
            pending.set(id, {
              method,
              resolve: (r) => (clearTimeout(timer), ok(r)),
              reject: (e) => (clearTimeout(timer), fail(e)),
            });
            ws.send(JSON.stringify({ id, method, params }));
          });
        },
        close: () => ws.close(),
      });
    });
  });
}

/** The inspector's targets: [{ id, title, webSocketDebuggerUrl }]. */
export async function listTargets(inspectorUrl) {
  const u = new URL(inspectorUrl);
  const res = await fetch(`http://${u.host}/json`);
  if (!res.ok) throw new Error(`GET http://${u.host}/json: ${res.status}`);
  return res.json();
}

/**
 * Starts the CPU profiler in every workerd isolate (or those whose id matches
 * `only`). Returns { targets, stop(dir, prefix) → [written paths], discard() }.
 */
export async function startWorkerdProfile(inspectorUrl, { intervalUs = 100, only = null } = {}) {
  const targets = (await listTargets(inspectorUrl)).filter((t) => t.webSocketDebuggerUrl && (!only || only.test(t.id)));
  if (targets.length === 0) throw new Error(`no inspector targets at ${inspectorUrl}`);
  const sessions = [];
  for (const t of targets) {
    const session = await cdpSession(t.webSocketDebuggerUrl);
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: intervalUs });
    sessions.push({ id: t.id, session });
  }
  // Started together, after every connection is up, so the profiles cover the same span.
  await Promise.all(sessions.map(({ session }) => session.send("Profiler.start")));
  let stopped = false;
  return {
    targets: targets.map((t) => t.id),
    async stop(dir, prefix = `workerd-${process.pid}`) {
      if (stopped) return [];
      stopped = true;
      mkdirSync(dir, { recursive: true });
      const written = [];
      await Promise.all(
        sessions.map(async ({ id, session }) => {
          try {
            const { profile } = await session.send("Profiler.stop", {}, 60_000);
            const path = `${dir}/${prefix}-${id.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/_+$/, "")}.cpuprofile`;
            writeFileSync(path, JSON.stringify(profile));
            written.push(path);
          } finally {
            session.close();
          }
        }),
      );
      return written.sort();
    },
    async discard() {
      if (stopped) return;
      stopped = true;
      await Promise.all(sessions.map(({ session }) => session.send("Profiler.stop", {}, 60_000).catch(() => {}).finally(() => session.close())));
    },
  };
}
