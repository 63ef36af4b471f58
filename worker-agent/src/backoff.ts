// Waiting between retries: full-jitter exponential backoff and a sleep that an
// AbortSignal cuts short, so shutdown never waits on a timer it cannot cancel.

export const BACKOFF = { baseMs: 250, capMs: 15_000 } as const;

/**
 * Delay before retry number `attempt` (0-based): uniform in [0, min(cap, base·2^attempt)).
 * Full jitter spreads reconnecting agents out instead of letting them arrive in waves.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, opts = BACKOFF): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms`, or as soon as `signal` aborts (it resolves, not rejects: callers check `signal.aborted`). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface RetryOptions {
  signal: AbortSignal;
  isRetryable: (err: unknown) => boolean;
  /** Called before each wait; `attempt` counts failures so far (1-based). */
  onRetry?: (err: unknown, attempt: number) => void;
  /** The wait between tries; defaults to sleep(). A caller can supply one that something else cuts short. */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The least wait after this error, in ms (the server's Retry-After); the backoff never waits less. */
  minDelay?: (err: unknown) => number;
}

/**
 * Runs `op` until it succeeds, retrying retryable failures with backoff.
 * Rethrows a non-retryable error at once; throws the last error if `signal` aborts.
 */
export async function retry<T>(op: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (opts.signal.aborted || !opts.isRetryable(err)) throw err;
      opts.onRetry?.(err, attempt + 1);
      await (opts.pause ?? sleep)(Math.max(backoffDelay(attempt), opts.minDelay?.(err) ?? 0), opts.signal);
      if (opts.signal.aborted) throw err;
    }
  }
}

const WOKEN = "woken";

/** Sleeps that `wake()` cuts short, for waits that news from elsewhere should end early. */
export class Wakeable {
  private readonly sleepers = new Set<AbortController>();

  /** Like sleep(): resolves after `ms`, when `signal` aborts, or on wake(). */
  sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) return Promise.resolve();
    const timer = new AbortController();
    const onAbort = (): void => timer.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.sleepers.add(timer);
    return sleep(ms, timer.signal).finally(() => {
      signal?.removeEventListener("abort", onAbort);
      this.sleepers.delete(timer);
    });
  };

  /** Ends every sleep under way; later sleeps are not affected. */
  wake(): void {
    // A reason given saves building the default DOMException on each wake (one per accepted envelope).
    for (const timer of this.sleepers) timer.abort(WOKEN);
  }
}
