// A queue object's settings from the Worker's environment: positive numbers,
// else the defaults.

import type { Env } from "../env.js";

export interface QueueConfig {
  /** How long an envelope may take to reach its agent (its expiresAt). */
  envelopeTtlMs: number;
  /** The lease a task holds until its agent confirms receipt. */
  deliveryMs: number;
  /** Polls (and exchanges) a second per agent. */
  pollRate: number;
}

const DEFAULTS: QueueConfig = { envelopeTtlMs: 60_000, deliveryMs: 10_000, pollRate: 100 };

const positive = (value: string | undefined, fallback: number): number => {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
};

export function queueConfig(env: Env): QueueConfig {
  return {
    envelopeTtlMs: positive(env.ENVELOPE_TTL_MS, DEFAULTS.envelopeTtlMs),
    deliveryMs: positive(env.DELIVERY_LEASE_MS, DEFAULTS.deliveryMs),
    pollRate: positive(env.AGENT_POLL_RATE, DEFAULTS.pollRate),
  };
}
