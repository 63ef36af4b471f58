// The agent's HTTP client: keep-alive node:http/node:https (global fetch costs
// 2–3x the CPU per request here), JSON in and out, auth headers on every
// request, and the one place that decides which failures are worth retrying.

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
}

export interface HttpClientOptions {
  url: string;
  token: string;
  agentId: string;
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

/** The AgentError for a non-2xx answer; `code` is the coordinator's error code when it sent one. */
function statusError(status: number, body: unknown): AgentError {
  const sent = (body as { error?: { code?: unknown } } | null)?.error?.code;
  const detail = typeof sent === "string" ? sent.slice(0, 64) : "";
  if (status === 401) return new AgentError("unauthorized", "the coordinator refused the agent token (401)", status);
  if (status === 403) return new AgentError("forbidden", "the coordinator forbade this agent (403)", status);
  return new AgentError(detail || `http_${status}`, `the coordinator answered ${status}${detail ? ` ${detail}` : ""}`, status);
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
    this.headers = {
      authorization: `Bearer ${opts.token}`,
      "x-agent-id": opts.agentId,
      accept: "application/json",
      "user-agent": opts.userAgent ?? "dist-agent",
    };
    this.maxResponseBytes = opts.maxResponseBytes ?? 512 * 1024 * 1024;
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
            else finish(statusError(status, body));
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
