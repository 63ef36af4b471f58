// A raw HTTP client for the adversarial suite: node:http with keep-alive and
// a socket cap (the fuzzer's bounded concurrency), full control over method,
// path, headers and body bytes, a per-request time limit, and answers kept as
// status + headers + text so a test can judge what came back (not JSON-only).

import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from "node:http";

export interface RawRequest {
  method: string;
  /** Sent as is: already percent-encoded where it needs to be. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The request is abandoned (socket destroyed) after this long; default 30 s. */
  timeoutMs?: number;
}

export interface RawReply {
  /** 0 when no answer came: see `error`. */
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Client-side failure: "timeout", a socket error code, or an invalid request Node refused to send. */
  error?: string;
  /**
   * The first try died with ECONNRESET/EPIPE on a reused keep-alive socket
   * (the server had closed it without saying so), or while writing a large
   * body the server had already answered, and was sent again on a fresh
   * connection. workerd closes a connection whose request body the Worker
   * answered without reading; the next request on it is what fails.
   */
  resent?: boolean;
  ms: number;
}

export interface RawClient {
  send(req: RawRequest): Promise<RawReply>;
  close(): void;
}

/**
 * A body this large may be cut off by a server that answers before reading it
 * (401, 413): it resets the connection mid-write, and Node reports the reset
 * even when the whole answer had arrived. (Expect: 100-continue does not help:
 * workerd sends no 100 when it reads.)
 */
const LARGE_BODY_BYTES = 256 * 1024;
/**
 * How long a large body waits after its headers for an early answer, as curl
 * waits for a 100 Continue: a server that refuses on the headers alone (413 on
 * Content-Length, 401) answers before a byte of the body is sent.
 */
const EARLY_ANSWER_MS = 250;

export function rawClient(base: string, opts: { maxSockets?: number } = {}): RawClient {
  const target = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 16 });
  const guarded = new WeakSet<object>();

  async function send(r: RawRequest): Promise<RawReply> {
    // The body's bytes once, for every try (a body may be 17 MB).
    const body = r.body === undefined || Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, "utf8");
    const large = (body?.length ?? 0) >= LARGE_BODY_BYTES;
    let attempt = await sendOnce(r, body, large);
    for (let i = 0; i < 3; i++) {
      const reset = attempt.status === 0 && (attempt.error === "ECONNRESET" || attempt.error === "EPIPE");
      if (!reset || !(attempt.reused || large)) return i === 0 ? attempt.reply : { ...attempt.reply, resent: true };
      attempt = await sendOnce(r, body, large, false);
    }
    return { ...attempt.reply, resent: true };
  }

  function sendOnce(r: RawRequest, body: Buffer | undefined, large: boolean, keepAlive = true): Promise<{ status: number; error?: string; reused: boolean; reply: RawReply }> {
    const started = performance.now();
    const done = (status: number, headers: IncomingHttpHeaders, text: string, error?: string): RawReply => ({
      status,
      headers,
      text,
      ...(error ? { error } : {}),
      ms: performance.now() - started,
    });
    return new Promise((resolve) => {
      const headers: Record<string, string | number> = { ...r.headers };
      if (body) headers["content-length"] = body.length;

      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let req: ReturnType<typeof request> | undefined;
      // req.reusedSocket is false for a request that waited in the agent's queue for a socket, so track reuse here.
      let reused = false;
      const finish = (reply: RawReply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: reply.status, ...(reply.error ? { error: reply.error } : {}), reused, reply });
      };
      let answered: IncomingMessage | undefined;
      // A socket error after the whole answer was parsed leaves that answer: its "end" still comes and settles this.
      const failed = (err: Error): void => {
        if (!answered?.complete) finish(done(0, {}, "", (err as NodeJS.ErrnoException).code ?? err.message));
      };
      try {
        req = request({ host: target.hostname, port: target.port, method: r.method, path: r.path, headers, agent: keepAlive ? agent : false }, (res) => {
          const chunks: Buffer[] = [];
          answered = res;
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", failed);
          res.on("end", () => {
            finish(done(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString("utf8")));
            // Answered before its body was sent: the body never will be, so this socket cannot be reused.
            if (!req?.writableEnded) req?.destroy();
          });
        });
      } catch (err) {
        // Node refuses some requests before sending (e.g. a path with unescaped characters).
        finish(done(0, {}, "", `refused by client: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
        return;
      }
      const sent = req;
      timer = setTimeout(() => {
        sent.destroy();
        finish(done(0, {}, "", "timeout"));
      }, r.timeoutMs ?? 30_000);
      sent.on("error", failed);
      // A server that answers before reading a large body resets the socket mid-write, after this request
      // has settled: without a listener of its own that late error would be thrown.
      sent.on("socket", (socket) => {
        reused = guarded.has(socket);
        if (reused) return;
        guarded.add(socket);
        socket.on("error", () => {});
      });
      if (!body || !large) {
        sent.end(body);
        return;
      }
      sent.flushHeaders();
      const wait = setTimeout(() => answered || settled || sent.end(body), EARLY_ANSWER_MS);
      sent.once("close", () => clearTimeout(wait));
    });
  }

  return { send, close: () => agent.destroy() };
}

/** Parses a reply's text as JSON; undefined when it is not. */
export function jsonOf(reply: RawReply): any {
  try {
    return reply.text ? JSON.parse(reply.text) : undefined;
  } catch {
    return undefined;
  }
}

export interface Enrolled {
  agentId: string;
  credential: string;
}

/** Enrolls an agent with the shared agent token (POST /v1/agent/enroll). */
export async function enroll(client: RawClient, sharedToken: string, name: string): Promise<Enrolled> {
  const reply = await client.send({
    method: "POST",
    path: "/v1/agent/enroll",
    headers: { authorization: `Bearer ${sharedToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const body = jsonOf(reply);
  if (reply.status !== 201 || typeof body?.agentId !== "string" || typeof body?.credential !== "string") {
    throw new Error(`enroll ${name}: ${reply.status} ${reply.text.slice(0, 200)}`);
  }
  return { agentId: body.agentId, credential: body.credential };
}

/** JSON calls as one enrolled agent: its credential and its X-Agent-Id on every request. */
export function asAgent(client: RawClient, agent: Enrolled) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any; reply: RawReply }> => {
    const reply = await client.send({
      method,
      path,
      headers: { authorization: `Bearer ${agent.credential}`, "x-agent-id": agent.agentId, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: reply.status, body: jsonOf(reply), reply };
  };
}

/** JSON calls with the submit token. */
export function asSubmitter(client: RawClient, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const reply = await client.send({
      method,
      path,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: reply.status, body: jsonOf(reply) };
  };
}
