// Errors as the API shows them: {"error":{"code","message"}}. Known errors
// carry their status and stable code; anything else is logged (without
// payloads) and answered as a plain 500, never with a stack.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody } from "../protocol/index.js";
import type { Failure, Outcome } from "../queue/outcome.js";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const errorBody = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/** Errors the platform marks as transient: a Durable Object reset, overloaded or briefly unreachable. */
function isTransient(err: Error): boolean {
  const flags = err as Error & { retryable?: boolean; overloaded?: boolean; durableObjectReset?: boolean };
  return flags.retryable === true || flags.overloaded === true || flags.durableObjectReset === true;
}

export function onError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status);
  if (isTransient(err)) {
    c.header("retry-after", "1");
    return c.json(errorBody("unavailable", "the queue was briefly unavailable; retry"), 503);
  }
  console.error(`dist: unhandled error on ${c.req.method} ${c.req.routePath}: ${err.name}: ${err.message}`);
  return c.json(errorBody("internal_error", "the coordinator hit an unexpected error"), 500);
}

export function notFound(c: Context): Response {
  return c.json(errorBody("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404);
}

/** The value of a queue outcome, or the caller's mistake as an ApiError. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  const { status, code, message } = outcome as Failure;
  throw new ApiError(status, code, message);
}
