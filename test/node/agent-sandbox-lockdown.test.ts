// Defense in depth: the sandbox child's own realm, as a task would find it
// if it ever got out of its vm realm. The probe runs in a process started
// exactly like a sandbox child (sandboxFork: permission model, empty
// environment, no arguments) after the child's own lockdown().
import { fork } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxFork } from "../../worker-agent/src/sandbox.js";

const agentDir = fileURLToPath(new URL("../../worker-agent/", import.meta.url));
const SECRET = "agent-token-that-must-not-leak-51c9";

let scratch: string;
let server: Server;
let serverUrl: string;
let connections = 0;

beforeAll(async () => {
  process.env.DIST_AGENT_TOKEN = SECRET;
  scratch = mkdtempSync(join(tmpdir(), "dist-lockdown-"));
  server = createServer((_req, res) => res.end("reached"));
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  delete process.env.DIST_AGENT_TOKEN;
  rmSync(scratch, { recursive: true, force: true });
});

describe("the sandbox process's own realm", () => {
  it("has no network, file writes, processes, workers, addons or secrets", async () => {
    const probePath = join(scratch, "probe.mjs");
    const configFile = join(scratch, "agent-config.json");
    writeFileSync(configFile, JSON.stringify({ token: SECRET }));
    await build({
      stdin: { contents: PROBE_SOURCE, resolveDir: join(agentDir, "src"), loader: "ts" },
      bundle: true, platform: "node", format: "esm", outfile: probePath, logLevel: "warning",
    });
    const { args, options } = sandboxFork(probePath, { maxMemoryMb: 128 });
    const child = fork(probePath, args, options);
    const before = connections;
    const report = await new Promise<Record<string, string>>((resolve, reject) => {
      child.on("message", (msg: unknown) => {
        if (msg === "ready") child.send({ url: serverUrl, paths: [configFile, join(homedir(), ".ssh", "id_ed25519"), join(homedir(), ".ssh")], writeTarget: join(scratch, "w.txt") });
        else resolve(msg as Record<string, string>);
      });
      child.once("exit", (code) => reject(new Error(`probe exited ${code}`)));
    });
    child.kill();
    const { env, argv, ...attempts } = report;
    for (const [what, result] of Object.entries(attempts)) expect(result, what).toMatch(/^denied: /);
    expect(attempts).toMatchObject({
      "net.connect": "denied: ERR_NETWORK_DISABLED", "http.get": "denied: ERR_NETWORK_DISABLED", "dns.lookup": "denied: ERR_NETWORK_DISABLED",
      "dgram.send": "denied: ERR_NETWORK_DISABLED", "net.listen": "denied: ERR_NETWORK_DISABLED", "tls.connect": "denied: ERR_NETWORK_DISABLED",
      "write": "denied: ERR_ACCESS_DENIED", "spawn": "denied: ERR_ACCESS_DENIED", "worker": "denied: ERR_ACCESS_DENIED",
      "addon": "denied: ERR_DLOPEN_DISABLED", "getBuiltinModule": "denied: ERR_ACCESS_DENIED", "inspector": "denied: ERR_ACCESS_DENIED",
    });
    expect(JSON.parse(env!)).toEqual({});
    expect(argv).not.toContain(SECRET);
    expect(connections).toBe(before);
    expect(existsSync(join(scratch, "w.txt"))).toBe(false);
  });
});

// Runs in a process started exactly like a sandbox child (sandboxFork), after
// the child's own lockdown: what could a task do if it reached that realm?
const PROBE_SOURCE = `
import { lockdown } from "./sandbox-lockdown.ts";
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import http from "node:http";
import dns from "node:dns";
import dgram from "node:dgram";
import cp from "node:child_process";
import { Worker } from "node:worker_threads";
lockdown({ allowNet: false });
process.on("message", async ({ url, paths, writeTarget }) => {
  const port = Number(new URL(url).port);
  const out = {};
  const attempt = async (name, fn) => {
    try { out[name] = "allowed: " + String(await fn()).slice(0, 200); } catch (e) { out[name] = "denied: " + (e.code ?? e.message); }
  };
  const settle = (start) => new Promise((resolve, reject) => start(resolve, reject));
  await attempt("net.connect", () => settle((ok, fail) => net.connect(port, "127.0.0.1", () => ok("connected")).on("error", fail)));
  await attempt("tls.connect", () => settle((ok, fail) => tls.connect(port, "127.0.0.1", () => ok("connected")).on("error", fail)));
  await attempt("http.get", () => settle((ok, fail) => http.get(url, (res) => ok(res.statusCode)).on("error", fail)));
  await attempt("fetch", () => (typeof fetch === "function" ? fetch(url).then((r) => r.status) : Promise.reject(new Error("no fetch"))));
  await attempt("dns.lookup", () => settle((ok, fail) => dns.lookup("localhost", (e, a) => (e ? fail(e) : ok(a)))));
  await attempt("dns.promises.lookup", () => dns.promises.lookup("localhost"));
  await attempt("dgram.send", () => settle((ok, fail) => dgram.createSocket("udp4").send("x", port, "127.0.0.1", (e) => (e ? fail(e) : ok("sent")))));
  await attempt("net.listen", () => settle((ok, fail) => net.createServer().on("error", fail).listen(0, () => ok("listening"))));
  await attempt("getBuiltinModule", () => process.getBuiltinModule("node:child_process"));
  for (const p of [...paths, "/proc/" + process.ppid + "/cmdline", "/proc/" + process.ppid + "/environ", "/proc/self/environ"]) {
    await attempt("read " + p, () => fs.readFileSync(p, "utf8"));
  }
  await attempt("write", () => fs.writeFileSync(writeTarget, "x"));
  await attempt("spawn", () => cp.execFileSync("/bin/echo", ["hi"]));
  await attempt("worker", () => new Worker("1", { eval: true }));
  await attempt("addon", () => process.dlopen({ exports: {} }, "/nonexistent/addon.node"));
  await attempt("inspector", async () => (await import("node:inspector")).open(0));
  out.env = JSON.stringify(process.env);
  out.argv = JSON.stringify([process.argv, process.execArgv]);
  process.send(out);
});
process.send("ready");
`;
