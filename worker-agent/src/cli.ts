#!/usr/bin/env node
// dist-agent's entry point: reads the config, runs the agent, maps signals to
// a graceful stop, and is the only place that chooses an exit code.
//   0  stopped cleanly     2  bad configuration or refused credentials
//   1  unexpected error    130  second SIGINT/SIGTERM (exit at once)

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

async function main(): Promise<void> {
  const loaded = await loadConfig(process.argv.slice(2), process.env).catch(die);
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
