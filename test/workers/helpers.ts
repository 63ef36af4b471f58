// Requests against the Worker inside workerd, with the test tokens.
import { SELF } from "cloudflare:test";

export const SUBMIT = "test-submit-token";
export const AGENT = "test-agent-token";
const BASE = "http://dist.test";

export interface Call {
  status: number;
  body: any;
  headers: Headers;
}

export async function call(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; raw?: string; agentId?: string; headers?: Record<string, string> } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? (path.startsWith("/v1/agent") ? AGENT : SUBMIT) : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (path.startsWith("/v1/agent")) headers["x-agent-id"] = opts.agentId ?? "agent-a";
  let payload: string | undefined = opts.raw;
  if (opts.body !== undefined) payload = JSON.stringify(opts.body);
  if (payload !== undefined) headers["content-type"] = "application/json";
  const res = await SELF.fetch(BASE + path, { method, headers, body: payload });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text so a test can say what it got */
  }
  return { status: res.status, body, headers: res.headers };
}

export const submit = (body: unknown, headers?: Record<string, string>) => call("POST", "/v1/jobs", { body, headers });
export const poll = (body: unknown, agentId = "agent-a") => call("POST", "/v1/agent/poll", { body, agentId });
export const report = (results: unknown[], agentId = "agent-a") =>
  call("POST", "/v1/agent/results", { body: { results }, agentId });

export function tasksOf(envelope: { payload: string }): Array<{ jobId: string; leaseId: string; attempt: number; input: unknown; fnHash: string }> {
  return JSON.parse(envelope.payload).tasks;
}
