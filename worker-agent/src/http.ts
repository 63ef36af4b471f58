// The agent's HTTP client: keep-alive node:http/node:https (global fetch costs
// 2–3x the CPU per request here), JSON in and out, the agent's credential on
// every request once it has enrolled, and the one place that decides which
// failures are worth retrying and which end the agent.

import http from "node:http";
import https from "node:https";
import { AgentError } from "./errors.js";

export interface HttpResponse<T = unknown> {
  status: number;
  body: T | null;
}

export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Sent instead of the agent's credential (enrollment uses the shared agent token). */
  authorization?: string;
}

export interface HttpClientOptions {
  url: string;
  userAgent?: string;
  /** Largest response body read, in bytes. */
  maxResponseBytes?: number;
}

const RETRYABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN",
  "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EHOSTDOWN", "ESOCKETTIMEDOUT", "EPROTO",
  "timeout", "bad_response",
]);

/**
 * The one classification of failures: network errors, timeouts, 408, 429 and
 * 5xx are worth retrying; 401/403 (AgentError unauthorized/forbidden), other
 * 4xx (a bug on one side) and aborts are not.
 */
export function isRetryable(errOrStatus: unknown): boolean {
  if (typeof errOrStatus === "number") return errOrStatus === 408 || errOrStatus === 429 || errOrStatus >= 500;
  if (!(errOrStatus instanceof Error)) return false;
  if (errOrStatus.name === "AbortError") return false;
  if (errOrStatus instanceof AgentError && errOrStatus.status !== undefined) return isRetryable(errOrStatus.status);
  const code = (errOrStatus as { code?: unknown }).code;
  return typeof code === "string" && RETRYABLE_CODES.has(code);
}

/** A refusal that no retry can change: the agent stops (exit code 2). */
export function isFatal(err: unknown): boolean {
  return err instanceof AgentError && (err.status === 401 || err.status === 403);
}

/** How long the coordinator asked us to wait (Retry-After on a 429 or 503), in ms; 0 if it did not. */
export function retryAfterMs(err: unknown): number {
  return err instanceof AgentError ? (err.retryAfterMs ?? 0) : 0;
}

const UNAUTHORIZED: Record<string, string> = {
  revoked: "this agent was revoked by the coordinator's operator (401 revoked)",
  enroll_required: "the coordinator wants an enrolled agent's credential here, not the shared token (401 enroll_required)",
};

/** The AgentError for a non-2xx answer; `code` is the coordinator's error code when it sent one. */
function statusError(status: number, body: unknown, retryAfter: string | undefined): AgentError {
  const sent = (body as { error?: { code?: unknown } } | null)?.error?.code;
  const detail = typeof sent === "string" ? sent.slice(0, 64) : "";
  if (status === 401) {
    const known = UNAUTHORIZED[detail];
    return known ? new AgentError(detail, known, status) : new AgentError("unauthorized", "the coordinator refused the agent's token or credential (401)", status);
  }
  if (status === 403) return new AgentError("forbidden", "the coordinator forbade this agent (403)", status);
  const err = new AgentError(detail || `http_${status}`, `the coordinator answered ${status}${detail ? ` ${detail}` : ""}`, status);
  // Retry-After in seconds (the HTTP-date form is not used by the coordinator); capped at 10 minutes.
  const seconds = Number(retryAfter);
  if ((status === 429 || status === 503) && retryAfter && Number.isFinite(seconds) && seconds > 0) err.retryAfterMs = Math.min(seconds, 600) * 1000;
  return err;
}

function abortError(): Error {
  const err = new Error("request aborted");
  err.name = "AbortError";
  return err;
}

export class HttpClient {
  private readonly base: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly headers: Record<string, string>;
  private readonly maxResponseBytes: number;

  constructor(opts: HttpClientOptions) {
    this.base = new URL(opts.url);
    this.transport = this.base.protocol === "https:" ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, keepAliveMsecs: 15_000 });
    this.headers = { accept: "application/json", "user-agent": opts.userAgent ?? "dist-agent" };
    this.maxResponseBytes = opts.maxResponseBytes ?? 512 * 1024 * 1024;
  }

  /** From now on every request carries this agent's id and credential (from enrollment). */
  identify(agentId: string, credential: string): void {
    this.headers.authorization = `Bearer ${credential}`;
    this.headers["x-agent-id"] = agentId;
  }

  /**
   * Sends one request; resolves with 2xx answers (body parsed as JSON, null
   * when empty) and throws AgentError for any other status.
   */
  request<T = unknown>(method: string, path: string, jsonBody?: unknown, opts: RequestOptions = {}): Promise<HttpResponse<T>> {
    const { signal, timeoutMs = 30_000 } = opts;
    if (signal?.aborted) return Promise.reject(abortError());
    const payload = jsonBody === undefined ? undefined : Buffer.from(JSON.stringify(jsonBody));
    const headers: Record<string, string | number> = { ...this.headers };
    if (opts.authorization !== undefined) {
      headers.authorization = opts.authorization;
      delete headers["x-agent-id"];
    }
    if (payload) Object.assign(headers, { "content-type": "application/json", "content-length": payload.length });

    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: HttpResponse<T>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(res!);
      };
      const onAbort = (): void => finish(abortError());
      const timer = setTimeout(() => finish(new AgentError("timeout", `no answer within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });

      const req = this.transport.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname.replace(/^\[|\]$/g, ""),
          port: this.base.port || undefined,
          path: this.base.pathname.replace(/\/+$/, "") + path,
          method,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxResponseBytes) finish(new AgentError("bad_response", `answer larger than ${this.maxResponseBytes} bytes`));
            else chunks.push(chunk);
          });
          res.on("error", (err) => finish(err));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown = null;
            if (text) {
              try {
                body = JSON.parse(text);
              } catch {
                if (status >= 200 && status < 300) return finish(new AgentError("bad_response", `${status} answer is not JSON`));
              }
            }
            if (status >= 200 && status < 300) finish(null, { status, body: body as T | null });
            else finish(statusError(status, body, res.headers["retry-after"]));
          });
        },
      );
      req.on("error", (err) => finish(err));
      req.end(payload);
    });
  }

  /** Closes idle keep-alive sockets so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}
