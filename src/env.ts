// The coordinator's bindings and secrets, as wrangler.toml and .dev.vars give them.
import type { AgentRegistry } from "./queue/agent-registry.js";
import type { FunctionRegistry } from "./queue/function-registry.js";
import type { QueueObject } from "./queue/queue-object.js";

export interface Env {
  QUEUE: DurableObjectNamespace<QueueObject>;
  FUNCTIONS: DurableObjectNamespace<FunctionRegistry>;
  AGENTS: DurableObjectNamespace<AgentRegistry>;
  /** Comma-separated tokens for submitters. */
  SUBMIT_TOKEN?: string;
  /** Comma-separated tokens for agents. */
  AGENT_TOKEN?: string;
  /** Ed25519 private key, PKCS8, base64. */
  SIGNING_KEY?: string;
  /** How long a signed envelope stays valid, in ms (default 60000). */
  ENVELOPE_TTL_MS?: string;
  /** How long a handed-out task waits for the agent to confirm it, in ms (default 10000). */
  DELIVERY_LEASE_MS?: string;
  /** "1" enables POST /v1/debug/reset/:queue, for fault-injection tests only. */
  FAULT_INJECTION?: string;
  /** Polls per second one agent may make on one queue (default 100; bursts of twice that). */
  AGENT_POLL_RATE?: string;
}
