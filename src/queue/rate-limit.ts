// A token bucket per key: `rate` tokens per second, up to `burst` saved.
// Plain functions over a Map, so the queue object can keep one per agent.

export interface Bucket {
  tokens: number;
  at: number;
}

/** Takes one token for `key` if there is one; otherwise says how many ms until there will be. */
export function take(buckets: Map<string, Bucket>, key: string, now: number, rate: number, burst: number): { ok: true } | { ok: false; retryAfterMs: number } {
  const bucket = buckets.get(key) ?? { tokens: burst, at: now };
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
  bucket.at = now;
  buckets.set(key, bucket);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return { ok: true };
  }
  return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / rate) * 1000) };
}

/** Drops buckets that have refilled completely: they hold nothing a fresh one would not. */
export function prune(buckets: Map<string, Bucket>, now: number, rate: number, burst: number): void {
  for (const [key, bucket] of buckets) {
    if (bucket.tokens + ((now - bucket.at) / 1000) * rate >= burst) buckets.delete(key);
  }
}
