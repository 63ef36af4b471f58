// Lease and retry arithmetic: plain functions, no storage.

/** A lease covers the task's time limit plus a grace for transport and start-up. */
export function leaseExpiry(now: number, timeoutMs: number, graceMs: number): number {
  return now + timeoutMs + graceMs;
}

/** A heartbeat keeps a lease at least `graceMs` ahead of now; it never shortens it. */
export function extendedExpiry(current: number, now: number, graceMs: number): number {
  return Math.max(current, now + graceMs);
}

export const RETRY_BASE_MS = 1_000;
export const RETRY_CAP_MS = 60_000;

/**
 * Delay before attempt `attempt + 1` after attempt `attempt` failed:
 * exponential, capped, with "equal jitter" so retries of one batch spread out
 * but never come back sooner than half the nominal delay.
 */
export function retryDelayMs(attempt: number, random: number = Math.random()): number {
  const nominal = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(nominal / 2 + (nominal / 2) * random);
}
