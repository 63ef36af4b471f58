#!/usr/bin/env node
// dist-agent's entry point: reads the config, runs the agent, maps signals to
// a graceful stop, and is the only place that chooses an exit code. Also the
// submitter's tools: `dist-agent keys generate` and `dist-agent sign`.
//   0  stopped cleanly     2  bad configuration, refused credentials or a revoked agent
//   1  unexpected error    130  second SIGINT/SIGTERM (exit at once)

import { keysCommand } from "./cmd-keys.js";
import { signCommand } from "./cmd-sign.js";
import { AGENT_VERSION, loadConfig, usage } from "./config.js";
import { AgentError } from "./errors.js";
import { createLogger } from "./log.js";
import { Agent } from "./poll-loop.js";

function die(err: unknown): never {
  if (err instanceof AgentError) {
    process.stderr.write(`dist-agent: ${err.message} (${err.code})\n`);
    process.exit(2);
  }
  process.stderr.write(`dist-agent: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

const io = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };

/**
 * The shared agent token is needed once, to enroll: keep it out of this
 * process's environment (and so out of anything it starts) and out of
 * process.argv. The kernel's copy of the command line stays as it was —
 * prefer DIST_AGENT_TOKEN to --token.
 */
function forgetToken(): void {
  delete process.env.DIST_AGENT_TOKEN;
  for (let i = 0; i < process.argv.length; i++) {
    if (process.argv[i] === "--token" && i + 1 < process.argv.length) process.argv[i + 1] = "***";
    else if (process.argv[i]!.startsWith("--token=")) process.argv[i] = "--token=***";
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "keys" || command === "sign") {
    await (command === "keys" ? keysCommand(rest, io) : signCommand(rest, io)).catch(die);
    process.exit(0);
  }
  const loaded = await loadConfig(process.argv.slice(2), process.env).catch(die);
  forgetToken();
  if (loaded.action === "help") {
    process.stdout.write(usage() + "\n");
    process.exit(0);
  }
  if (loaded.action === "version") {
    process.stdout.write(AGENT_VERSION + "\n");
    process.exit(0);
  }
  const { config } = loaded;
  const log = createLogger(config.logLevel);
  const agent = new Agent(config, log);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn("exiting at once", { signal });
      process.exit(130);
    }
    log.info("stopping", { signal, graceMs: config.shutdownGraceMs });
    agent.stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  await agent.run().catch(die);
  log.info("stopped");
  process.exit(0);
}

void main();
