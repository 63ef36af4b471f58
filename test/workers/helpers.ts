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

const identities = new Map<string, Promise<{ agentId: string; credential: string }>>();

/** The enrolled identity for a test agent name (enrolled once per test file). */
export function identity(name: string): Promise<{ agentId: string; credential: string }> {
  let found = identities.get(name);
  if (!found) {
    found = SELF.fetch(`${BASE}/v1/agent/enroll`, {
      method: "POST",
      headers: { authorization: `Bearer ${AGENT}`, "content-type": "application/json" },
      body: JSON.stringify({ name }),
    }).then(async (res) => {
      if (res.status !== 201) throw new Error(`enroll ${name}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { agentId: string; credential: string };
    });
    identities.set(name, found);
  }
  return found;
}

export const idOf = async (name: string): Promise<string> => (await identity(name)).agentId;

export async function call(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; raw?: string; agentId?: string; headers?: Record<string, string> } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...opts.headers };
  const agentRoute = path.startsWith("/v1/agent/") && !path.startsWith("/v1/agent/enroll");
  const who = agentRoute ? await identity(opts.agentId ?? "agent-a") : null;
  const token = opts.token === undefined ? (who?.credential ?? (path.startsWith("/v1/agent/enroll") ? AGENT : SUBMIT)) : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (who && !("x-agent-id" in headers)) headers["x-agent-id"] = who.agentId;
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
