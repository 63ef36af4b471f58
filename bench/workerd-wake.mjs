// node bench/workerd-wake.mjs — what a hop through local workerd costs, with
// no dist code: a bare Durable Object whose park() waits on a promise that
// poke() resolves. Prints the medians of 40 tries of a plain call, a poke,
// and when the parked request's answer arrives (from the poke's start),
// without and with a SQLite write; then a plain Worker request sent at once
// after the last one and sent after 20 ms idle, next to a bare node:http
// server doing the same. It explains the floor under dist's unloaded round
// trip (see README, Performance). Each workerd figure twice: through
// Miniflare's dev entry Worker and on the Worker's own (direct) socket.
// Its storage goes where the bench's coordinator's goes (dist/config.mjs,
// coordinatorTmpDir: /dev/shm unless BENCH_COORD_STORAGE=disk).
import { Miniflare } from "miniflare";
import { rmSync } from "node:fs";
import http from "node:http";
import { coordinatorTmpDir } from "./dist/config.mjs";

// Miniflare puts workerd's SQLite files under os.tmpdir(), read when it is constructed.
const storageDir = coordinatorTmpDir("workerd-wake-");
if (storageDir) process.env.TMPDIR = storageDir;
console.log(`storage: ${storageDir ? "memory (/dev/shm)" : "disk (OS temp dir)"}`);
const script = `
import { DurableObject } from "cloudflare:workers";
export class Q extends DurableObject {
  waiters = [];
  async park() { return await new Promise((r) => this.waiters.push(r)); }
  async poke(write) { if (write) this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (x)"), this.ctx.storage.sql.exec("INSERT INTO t VALUES (1)"); for (const w of this.waiters.splice(0)) w("x"); return "ok"; }
  async plain(write) { if (write) this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (x)"), this.ctx.storage.sql.exec("INSERT INTO t VALUES (1)"); return "ok"; }
}
export default { async fetch(req, env) {
  const u = new URL(req.url); const stub = env.Q.get(env.Q.idFromName("a")); const w = u.searchParams.get("w") === "1";
  if (u.pathname === "/nothing") return new Response("ok");
  if (u.pathname === "/park") return new Response(await stub.park());
  if (u.pathname === "/poke") return new Response(await stub.poke(w));
  return new Response(await stub.plain(w));
} }`;
const mf = new Miniflare({
  modules: true, script, host: "127.0.0.1", port: 0, compatibilityDate: "2025-04-01", durableObjects: { Q: { className: "Q", useSQLite: true } },
  unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
});
// Each measure twice: through Miniflare's dev entry Worker (its main URL), and on the Worker's
// own socket, as a deployment and the bench's coordinator (bench/dist/coordinator.mjs) reach it.
const urls = [["via Miniflare's entry Worker", new URL(await mf.ready)], ["direct socket", await mf.unsafeGetDirectURL()]];
const agent = new http.Agent({ keepAlive: true });
let url;
const get = (path) => new Promise((res) => { const r = http.request({ hostname: url.hostname, port: url.port, path, agent }, (x) => { x.resume(); x.on("end", () => res(performance.now())); }); r.end(); });
const idle = async (label, send) => {
  for (const gap of [0, 20]) {
    const xs = [];
    for (let i = 0; i < 40; i++) {
      if (gap) await new Promise((r) => setTimeout(r, gap));
      const t = performance.now();
      await send();
      xs.push(performance.now() - t);
    }
    console.log(`${label}, ${gap ? "after 20 ms idle" : "back to back"}: ${xs.sort((a, b) => a - b)[20].toFixed(2)} ms`);
  }
};
for (const [how, u] of urls) {
url = u;
console.log(`workerd, ${how}:`);
for (const w of ["0", "1"]) {
  const plain = [], poke = [], wake = [];
  for (let i = 0; i < 40; i++) {
    let t = performance.now(); await get(`/plain?w=${w}`); plain.push(performance.now() - t);
    const parked = get("/park"); await new Promise((r) => setTimeout(r, 20));
    t = performance.now(); const p = get(`/poke?w=${w}`); const woke = await parked; poke.push((await p) - t); wake.push(woke - t);
  }
  const med = (xs) => xs.sort((a, b) => a - b)[20].toFixed(2);
  console.log(`  write=${w} plain ${med(plain)} ms, poke ${med(poke)} ms, parked answer after poke start ${med(wake)} ms`);
}
await idle("  a Worker request (no Durable Object)", () => get("/nothing"));
}
const server = http.createServer((_req, res) => res.end("ok")).listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const nodeGet = () => new Promise((res) => { const r = http.request({ hostname: "127.0.0.1", port: server.address().port, path: "/", agent }, (x) => { x.resume(); x.on("end", res); }); r.end(); });
await idle("node:http, the same request", nodeGet);
server.close();
await mf.dispose();
if (storageDir) rmSync(storageDir, { recursive: true, force: true });
process.exit(0);
