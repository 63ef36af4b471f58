// Reading and validating request bodies at the edge: size first, then JSON,
// then the route's schema. Code behind this takes typed values.

import type { Context } from "hono";
import type { z } from "zod";
import { jsonDepthExceeds, LIMITS } from "../protocol/index.js";
import { ApiError } from "./errors.js";

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}

/** The raw body text, refused with 413 past `maxBytes`. */
export async function readText(c: Context, maxBytes: number = LIMITS.maxBodyBytes): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const text = await c.req.text();
  if (text.length > maxBytes) throw tooLarge(maxBytes);
  return text;
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "payload_too_large", `the request body is larger than ${maxBytes} bytes`);
}

export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_json", "the request body is not valid JSON");
  }
  // Deep values would overflow later serialization (and the agent's); refuse them here.
  if (jsonDepthExceeds(value, LIMITS.maxJsonDepth)) {
    throw new ApiError(400, "too_deep", `the request body nests arrays or objects deeper than ${LIMITS.maxJsonDepth} levels`);
  }
  return value;
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, "invalid_request", describeIssues(parsed.error));
  return parsed.data;
}

/** Reads, parses and validates a JSON body in one step. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S, maxBytes?: number): Promise<z.output<S>> {
  return validate(schema, parseJson(await readText(c, maxBytes)));
}
