// The agent's one error type. Every error the agent raises on purpose carries
// a stable `code` (and an HTTP `status` when the coordinator answered), so the
// CLI and the poll loop can classify it without parsing messages.

export class AgentError extends Error {
  override name = "AgentError";
  /** How long the coordinator asked to wait before trying again (Retry-After), in ms. */
  retryAfterMs?: number;
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Turns whatever was thrown into an Error with an optional code; every `catch` goes through here. */
export function coerceError(err: unknown): Error & { code?: string } {
  if (err instanceof Error) return err as Error & { code?: string };
  if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") {
    const plain = err as { message: string; code?: unknown };
    return new AgentError(typeof plain.code === "string" ? plain.code : "unknown", plain.message);
  }
  return new AgentError("unknown", `non-error thrown: ${typeof err}`);
}

/** The code of an error, for log lines: AgentError codes, Node's E* codes, or the error's name. */
export function errorCode(err: unknown): string {
  const e = coerceError(err);
  return typeof e.code === "string" && e.code ? e.code : e.name;
}
