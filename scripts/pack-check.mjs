#!/usr/bin/env node
// What a volunteer with only Node gets from `npx dist-agent`: pack the agent
// package, install the tarball into an empty folder (no repository, no
// workspace), run `dist-agent --help`, then run a real task with it against a
// local coordinator. Run by .ci/run after `npm test`.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "dist-pack-"));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
let coordinator;
let agent;

try {
  run(npm, ["run", "build", "-w", "dist-agent"], root);
  run(npm, ["pack", "--pack-destination", work], join(root, "worker-agent"));
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
  const app = join(work, "volunteer");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "volunteer", private: true }));
  run(npm, ["install", "--no-audit", "--no-fund", join(work, tarball)], app);
  const help = run(npm, ["exec", "--", "dist-agent", "--help"], app);
  if (!help.includes("--public-key")) throw new Error("dist-agent --help did not describe its flags");
  if (!run(npm, ["exec", "--", "dist", "--help"], app).includes("submit --fn")) throw new Error("dist --help did not describe its commands");
  console.log(`packed ${tarball}; installed in an empty folder; --help ok`);

  // A real coordinator (Miniflare, from this repository) and the installed agent.
  coordinator = await startLocalCoordinator();
  agent = spawn(join(app, "node_modules/.bin/dist-agent"), ["--url", coordinator.url, `--public-key=${coordinator.publicKey}`, "--concurrency", "1", "--name", "packed"], {
    cwd: app,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DIST_AGENT_TOKEN: coordinator.agentToken },
    stdio: ["ignore", "ignore", "pipe"],
  });
  agent.stderr.setEncoding("utf8");
  const sub = await (await fetch(`${coordinator.url}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${coordinator.submitToken}`, "content-type": "application/json" },
    body: JSON.stringify({ fn: "(s) => s.split('').reverse().join('')", input: "volunteer" }),
  })).json();
  const page = await (await fetch(`${coordinator.url}/v1/batches/${sub.batchId}/results?after=0&wait=20`, {
    headers: { authorization: `Bearer ${coordinator.submitToken}` },
  })).json();
  if (page.results?.[0]?.value !== "reetnulov") throw new Error(`the packed agent did not return the task's result: ${JSON.stringify(page)}`);
  console.log("the packed agent ran a real task: ok");
} finally {
  agent?.kill("SIGTERM");
  await coordinator?.stop();
  rmSync(work, { recursive: true, force: true });
}

async function startLocalCoordinator() {
  const { generateKeyPairSync, randomBytes } = await import("node:crypto");
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const secrets = {
    submitToken: `s-${randomBytes(12).toString("hex")}`,
    agentToken: `a-${randomBytes(12).toString("hex")}`,
    signingKey: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
    publicKey: publicKey.export({ format: "jwk" }).x,
  };
  const { createServer } = await import("node:net");
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const proc = spawn(process.execPath, [join(root, "scripts/coordinator-process.mjs")], {
    env: {
      ...process.env,
      SUBMIT_TOKEN: secrets.submitToken,
      AGENT_TOKEN: secrets.agentToken,
      SIGNING_KEY: secrets.signingKey,
      DIST_COORD_PORT: String(port),
      DIST_COORD_PERSIST: join(work, "state"),
      // Miniflare's working directory: inside `work`, which is removed at the end (the group is SIGKILLed).
      TMPDIR: mkdtempSync(join(work, "tmp-")),
    },
    // stdin stays open: the script exits when it closes.
    stdio: ["pipe", "pipe", "inherit"],
    detached: true,
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`coordinator exited ${code}: ${out}`)));
    setTimeout(() => reject(new Error("coordinator did not start in 30 s")), 30_000).unref();
  });
  return { ...secrets, url, stop: async () => { try { process.kill(-proc.pid, "SIGKILL"); } catch {} } };
}
