// Enrollment: at start the agent trades the shared agent token for an
// identity of its own — an agent id the coordinator assigns and a credential
// only this run holds (POST /v1/agent/enroll). Every later call uses those,
// so the operator can list and revoke agents one by one. The shared token is
// not needed again.

import type { EnrollResponse } from "../../src/protocol/client.js";
import { retry, type RetryOptions } from "./backoff.js";
import type { AgentConfig } from "./config.js";
import { AgentError } from "./errors.js";
import type { HttpClient } from "./http.js";

const AGENT_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const CREDENTIAL_RE = /^[\x21-\x7e]{1,512}$/;

/** Enrolls, retrying what is worth retrying; throws AgentError when refused. */
export async function enroll(
  http: HttpClient,
  sharedToken: string,
  body: { name: string; labels: string[] },
  retryOptions: RetryOptions,
): Promise<EnrollResponse> {
  let answer;
  try {
    answer = await retry(
      () => http.request<EnrollResponse>("POST", "/v1/agent/enroll", { name: body.name, ...(body.labels.length ? { labels: body.labels } : {}) }, {
        signal: retryOptions.signal,
        timeoutMs: 30_000,
        authorization: `Bearer ${sharedToken}`,
      }),
      retryOptions,
    );
  } catch (err) {
    if (err instanceof AgentError && err.status === 404) {
      throw new AgentError("enroll_unsupported", "the coordinator does not enroll agents (POST /v1/agent/enroll answered 404): it is older than this agent", 404);
    }
    throw err;
  }
  const { agentId, credential } = (answer.body ?? {}) as Partial<EnrollResponse>;
  if (typeof agentId !== "string" || !AGENT_ID_RE.test(agentId) || typeof credential !== "string" || !CREDENTIAL_RE.test(credential)) {
    throw new AgentError("bad_response", "the coordinator's enrollment answer is not { agentId, credential }");
  }
  return { agentId, credential };
}

/**
 * Enrolls this run and sets the HTTP client's identity; returns the assigned
 * agent id, or null if `retryOptions.signal` (the agent's stop) came first.
 * Clears `config.token` at once: the shared token is not kept beyond this call.
 */
export async function enrollAgent(http: HttpClient, config: Pick<AgentConfig, "token" | "name" | "labels">, retryOptions: RetryOptions): Promise<string | null> {
  const token = config.token;
  config.token = "";
  try {
    const { agentId, credential } = await enroll(http, token, { name: config.name, labels: config.labels }, retryOptions);
    http.identify(agentId, credential);
    return agentId;
  } catch (err) {
    if (retryOptions.signal.aborted) return null;
    throw err;
  }
}
