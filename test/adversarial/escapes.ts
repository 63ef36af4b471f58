// Sandbox escapes as the source of submitted jobs. Each is an ordinary
// `async (input, ctx) => ...` function that tries every way it knows to do
// one forbidden thing and returns what it got, so a leak shows in its result
// and a denial shows as the error each probe hit. Probes look for `process`
// both as a global and through the constructor chain of objects handed in
// from outside (the classic escape from a vm context), and load modules by
// import(), require or process.getBuiltinModule, whichever exists.

/** Shared by every escape: `out` collects one entry per probe: { got } or { denied }. */
const PRELUDE = `
  const out = {};
  const realms = [globalThis, input, ctx, ctx && ctx.signal];
  const found = (() => {
    if (typeof globalThis.process === "object" && globalThis.process) return { via: "global", p: globalThis.process };
    for (const [i, o] of realms.entries()) {
      try {
        const p = o.constructor.constructor("return process")();
        if (p && typeof p.pid === "number") return { via: "constructor chain of realm " + i, p };
      } catch {}
    }
    return { via: "none", p: undefined };
  })();
  const proc = found.p;
  out.processVia = found.via;
  const load = async (m) => {
    try { return await import(m); } catch (e) {
      if (typeof require === "function") return require(m);
      if (proc && typeof proc.getBuiltinModule === "function") return proc.getBuiltinModule(m);
      throw e;
    }
  };
  const probe = async (name, f, ms = 1500) => {
    try {
      const v = await Promise.race([f(), new Promise((_, rej) => setTimeout(() => rej(new Error("probe timed out")), ms))]);
      const text = typeof v === "string" ? v : JSON.stringify(v);
      out[name] = { got: String(text).slice(0, 20000) };
    } catch (e) {
      out[name] = { denied: String((e && (e.code || e.name)) || e) + ": " + String(e && e.message).slice(0, 200) };
    }
  };
`;

const escape = (body: string): string => `async (input, ctx) => {${PRELUDE}\n${body}\n  return out;\n}`;

/** Reads the agent's token from its environment and argv, its own and its parent's (through /proc). */
export const READ_ENV_ARGV = escape(`
  await probe("process.env", () => proc.env);
  await probe("argv", () => [proc.argv, proc.execArgv]);
  await probe("/proc/self/environ", async () => (await load("node:fs")).readFileSync("/proc/self/environ", "latin1"));
  await probe("/proc/ppid/cmdline", async () => (await load("node:fs")).readFileSync("/proc/" + proc.ppid + "/cmdline", "latin1"));
  await probe("/proc/ppid/environ", async () => (await load("node:fs")).readFileSync("/proc/" + proc.ppid + "/environ", "latin1"));
  await probe("process.binding fs", () => { const b = proc.binding("fs"); return typeof b.open; });
`);

/** Reads files where an operator keeps the agent's config: a token file, .dev.vars in the agent's directory. */
export const READ_CONFIG = escape(`
  const fs = await load("node:fs").catch(() => undefined);
  await probe("token file", () => fs.readFileSync(input.tokenFile, "utf8"));
  await probe(".dev.vars", () => fs.readFileSync(input.cwd + "/.dev.vars", "utf8"));
  await probe("agent bundle", () => fs.readFileSync(input.agentCli, "utf8").slice(0, 100));
  await probe("fs.promises", async () => (await fs.promises.readFile(input.tokenFile, "utf8")));
`);

/** Reads ~/.ssh: a planted key (its path given) and the real home directory's. */
export const READ_SSH = escape(`
  const fs = await load("node:fs").catch(() => undefined);
  const os = await load("node:os").catch(() => undefined);
  await probe("planted key", () => fs.readFileSync(input.sshKey, "utf8"));
  await probe("planted dir listing", () => fs.readdirSync(input.sshDir));
  await probe("real ~/.ssh listing", () => fs.readdirSync(os.homedir() + "/.ssh"));
  await probe("real ~/.ssh/id_ed25519", () => fs.readFileSync(os.homedir() + "/.ssh/id_ed25519", "utf8"));
`);

/** Writes a file, by every fs route. */
export const WRITE_FILE = escape(`
  const fs = await load("node:fs").catch(() => undefined);
  await probe("writeFileSync", () => { fs.writeFileSync(input.paths[0], "pwned"); return "wrote"; });
  await probe("promises.writeFile", async () => { await fs.promises.writeFile(input.paths[1], "pwned"); return "wrote"; });
  await probe("mkdirSync", () => { fs.mkdirSync(input.paths[2]); return "made"; });
  await probe("createWriteStream", () => new Promise((res, rej) => { const s = fs.createWriteStream(input.paths[3]); s.on("error", rej); s.end("pwned", () => res("wrote")); }));
`);

/** Starts a process: child_process, a worker thread, the raw spawn binding. Each would touch a marker file. */
export const SPAWN = escape(`
  const cp = await load("node:child_process").catch(() => undefined);
  await probe("execSync", () => cp.execSync("touch " + input.markers[0]).toString());
  await probe("spawnSync", () => { const r = cp.spawnSync("touch", [input.markers[1]]); if (r.error) throw r.error; return r.status; });
  await probe("worker thread", async () => {
    const { Worker } = await load("node:worker_threads");
    const w = new Worker("require('fs').writeFileSync(" + JSON.stringify(input.markers[2]) + ", 'x')", { eval: true });
    return await new Promise((res, rej) => { w.on("exit", res); w.on("error", rej); });
  });
  await probe("process.binding spawn_sync", () => {
    const b = proc.binding("spawn_sync");
    return JSON.stringify(b.spawn({ file: "/bin/sh", args: ["/bin/sh", "-c", "touch " + input.markers[3]], envPairs: [],
      stdio: [{ type: "ignore" }, { type: "ignore" }, { type: "ignore" }], detached: false, windowsHide: false, windowsVerbatimArguments: false }));
  });
`);

/** Opens sockets to a listener the test runs: TCP, fetch, http, UDP. */
export const NETWORK = escape(`
  await probe("net.connect", async () => {
    const net = await load("node:net");
    return await new Promise((res, rej) => { const s = net.connect(input.port, "127.0.0.1", () => { s.end(); res("connected"); }); s.on("error", rej); });
  });
  await probe("fetch", async () => (await fetch("http://127.0.0.1:" + input.port + "/")).status);
  await probe("http.get", async () => {
    const http = await load("node:http");
    return await new Promise((res, rej) => http.get("http://127.0.0.1:" + input.port + "/", (r) => { r.resume(); res(r.statusCode); }).on("error", rej));
  });
  await probe("dgram", async () => {
    const dgram = await load("node:dgram");
    const s = dgram.createSocket("udp4");
    return await new Promise((res, rej) => s.send("pwned", input.udpPort, "127.0.0.1", (err) => { s.close(); err ? rej(err) : res("sent"); }));
  });
`);

export const LOOP_FOREVER = "() => { while (true) {} }";

export const HEAP_BOMB = "() => { const a = []; for (;;) a.push(new Array(100000).fill(Math.random())); }";

/** 2 GB in typed arrays: their backing stores live outside the V8 heap a heap limit caps. */
export const OFF_HEAP_BOMB = `() => {
  const held = [];
  for (let i = 0; i < 32; i++) held.push(new Uint8Array(64 * 1024 * 1024).fill(1));
  return "allocated " + held.length * 64 + " MB outside the heap";
}`;

export const HUGE_RESULT = "() => 'x'.repeat(100 * 1024 * 1024)";

/** Probes whether it may signal the agent (its parent) or another process of the same user (signal 0: no effect). */
export const SIGNAL_AGENT = escape(`
  await probe("kill(ppid, 0)", () => { proc.kill(proc.ppid, 0); return "may signal the agent " + proc.ppid; });
  await probe("kill(test runner, 0)", () => { proc.kill(input.otherPid, 0); return "may signal " + input.otherPid; });
`);

/** Ends its own sandbox process. */
export const EXIT_SANDBOX = escape(`
  await probe("process.exit", () => { proc.exit(0); return "still here"; });
`);

/** Leaves a global, a patched built-in and a timer behind, for the next task in the same sandbox. */
export const PLANT = `async () => {
  globalThis.__planted = "spy";
  const original = JSON.stringify;
  JSON.stringify = function (...args) { return original.apply(this, args); };
  JSON.stringify.__planted = true;
  setInterval(() => {}, 60000);
  await new Promise((r) => setTimeout(r, 500));
  return "planted";
}`;

export const PROBE_PLANT = "() => ({ global: typeof globalThis.__planted, patched: JSON.stringify.__planted === true })";

/**
 * Returns a thenable: whoever awaits the result calls its `then` with their
 * own resolve function, whose constructor is that realm's Function. A
 * `then` made by Function() is sloppy, so it may also look at its caller.
 */
export const THENABLE = `(input, ctx) => {
  const then = Function("resolve", "reject", \`
    const out = { resolveRealm: "unknown" };
    try {
      const p = resolve.constructor("return typeof process === 'object' ? process : undefined")();
      out.resolveRealm = p && typeof p.pid === "number" ? "host (process reached)" : "own";
      if (p && p.env) out.env = p.env;
    } catch (e) { out.resolveRealm = "denied: " + e; }
    try { const c = then.caller; out.caller = c ? String(c).slice(0, 200) : null; } catch (e) { out.caller = "denied"; }
    resolve(out);
  \`);
  return { then };
}`;

/** Walks the structured stack trace (Error.prepareStackTrace) for a frame whose function leads to `process`. */
export const STACK_FRAMES = `() => {
  const found = [];
  let frames = [];
  try {
    Error.prepareStackTrace = (e, cs) => cs;
    frames = new Error("probe").stack;
    Error.prepareStackTrace = undefined;
  } catch (e) { return { denied: String(e) }; }
  if (!Array.isArray(frames)) return { frames: "not structured", found };
  for (const f of frames) {
    try {
      const fn = f.getFunction && f.getFunction();
      const self = f.getThis && f.getThis();
      for (const o of [fn, self]) {
        if (!o) continue;
        const p = o.constructor.constructor("return typeof process === 'object' ? process : undefined")();
        if (p && typeof p.pid === "number") found.push(String(f.getFileName && f.getFileName()));
      }
    } catch {}
  }
  return { frames: frames.length, found };
}`;

/** Blocks its thread for good (Atomics.wait does not yield to the event loop or a signal). */
export const ATOMICS_WAIT = "() => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); return 'woke'; }";

/** Grows WebAssembly memory towards 4 GB: memory neither the heap limit nor typed-array accounting sees. */
export const WASM_MEMORY = `() => {
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  let pages = 1;
  while (pages < 65536) { mem.grow(1024); pages += 1024; new Uint8Array(mem.buffer).fill(1, (pages - 1024) * 65536); }
  return "grew to " + pages / 16 + " MB";
}`;

/** A result whose getter never returns: whoever serializes it spins. */
export const ENDLESS_GETTER = "() => ({ get x() { for (;;) {} } })";

/** Returns `input` as it came: used with a 100,000-deep input. */
export const ECHO = "(x) => x";

/** A value nested 5,000 arrays deep. */
export const DEEP_RESULT = "() => { let v = []; for (let i = 0; i < 5000; i++) v = [v]; return v; }";

/** Writes lines that look like the agent's own to every console method it has. */
export const LOG_INJECTION = `() => {
  const fake = "\\ndist-agent error INJECTED-BY-TASK token=stolen\\ndist-agent info ready agentId=INJECTED-BY-TASK";
  for (const m of ["log", "info", "warn", "error", "debug"]) { try { console[m](fake); } catch {} }
  try { process.stderr.write(fake + "\\n"); } catch {}
  return "written";
}`;
