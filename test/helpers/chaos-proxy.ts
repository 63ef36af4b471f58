// A chaos proxy between agents and the coordinator, for fault-injection
// tests. Per request, with configurable probabilities drawn from a seeded
// PRNG (the same seed gives the same sequence of decisions), it:
//   - drops the connection before forwarding (the coordinator never sees it),
//   - forwards but drops the answer (the coordinator acted; the agent never
//     hears of it — the nastiest case for exactly-once recording),
//   - delays the request by 0..maxDelayMs,
//   - sends a result post upstream twice and returns one answer,
//   - holds a result post for stallMs before forwarding it (an agent cut off
//     for longer than its lease: its result must come back stale).
// A result post is POST /v1/agent/results, or a POST /v1/agent/exchange that
// carries results; the second copy of an exchange carries only its results
// (slots 0, no wait), as a retried request's results would arrive again,
// while the first copy's tasks reach the agent.
// It counts what it did, and how many results the coordinator refused as
// stale; report() gives the counts as one line.

import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { listenOnLoopback } from "./loopback.js";

export interface ChaosOptions {
  seed?: number;
  /** Probability that a request's connection is destroyed before it is forwarded. */
  dropRequest?: number;
  /** Probability that the coordinator's answer is thrown away and the connection destroyed. */
  dropResponse?: number;
  /** Probability that a request waits 0..maxDelayMs before it is forwarded. */
  delay?: number;
  maxDelayMs?: number;
  /** Probability that a result post (see the header) is sent upstream twice. */
  duplicateResults?: number;
  /** Probability that a result post is held `stallMs` before it is forwarded. */
  stallResults?: number;
  stallMs?: number;
  /** Which requests chaos applies to; the rest pass untouched (default: every /v1/agent/ route). */
  applies?: (method: string, path: string) => boolean;
}

export interface ChaosCounts {
  requests: number;
  untouched: number;
  droppedRequests: number;
  droppedResponses: number;
  delayed: number;
  duplicatedResults: number;
  stalledResults: number;
  /** Results the coordinator answered `stale` (late, duplicate or superseded), over every copy sent. */
  answeredStale: number;
  /** Of those, results in posts that had been held past their lease. */
  staleAfterStall: number;
  upstreamErrors: number;
}

export interface ChaosProxy {
  url: string;
  counts: ChaosCounts;
  /** Chaos can be switched off (e.g. to let a run finish) and on again. */
  enabled: boolean;
  report(): string;
  close(): Promise<void>;
}

/** mulberry32: a small, fast, seedable PRNG with a full 2^32 period. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export async function startChaosProxy(target: string, opts: ChaosOptions = {}): Promise<ChaosProxy> {
  const upstreamUrl = new URL(target);
  const random = seededRandom(opts.seed ?? 1);
  const applies = opts.applies ?? ((_method: string, path: string) => path.startsWith("/v1/agent/"));
  const keepAlive = new Agent({ keepAlive: true, maxSockets: Infinity });
  const counts: ChaosCounts = {
    requests: 0,
    untouched: 0,
    droppedRequests: 0,
    droppedResponses: 0,
    delayed: 0,
    duplicatedResults: 0,
    stalledResults: 0,
    answeredStale: 0,
    staleAfterStall: 0,
    upstreamErrors: 0,
  };
  const isExchange = (method: string, path: string): boolean => method === "POST" && path.startsWith("/v1/agent/exchange");
  /** Whether the request posts results: POST /v1/agent/results, or an exchange carrying some. */
  const isResults = (method: string, path: string, body: Buffer): boolean => {
    if (method === "POST" && path.startsWith("/v1/agent/results")) return true;
    if (!isExchange(method, path)) return false;
    try {
      return ((JSON.parse(body.toString("utf8")) as { results?: unknown[] }).results?.length ?? 0) > 0;
    } catch {
      return false;
    }
  };
  /** The copy of a result post sent again: an exchange's results alone. */
  const replayOf = (method: string, path: string, body: Buffer): Buffer => {
    if (!isExchange(method, path)) return body;
    const { results, queue, session } = JSON.parse(body.toString("utf8")) as { results: unknown[]; queue?: string; session?: string };
    return Buffer.from(JSON.stringify({ results, slots: 0, wait: 0, ...(queue ? { queue } : {}), ...(session ? { session } : {}) }));
  };
  const countStale = (up: Upstream, stalled: boolean): Upstream => {
    if (up.status === 200) {
      try {
        const answer = JSON.parse(up.body.toString("utf8")) as { stale?: unknown[]; results?: { stale?: unknown[] } };
        const stale = (answer.results?.stale ?? answer.stale)?.length ?? 0;
        counts.answeredStale += stale;
        if (stalled) counts.staleAfterStall += stale;
      } catch {
        /* not JSON: nothing to count */
      }
    }
    return up;
  };

  function forward(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Upstream> {
    const out = { ...headers, host: upstreamUrl.host };
    delete out.connection;
    return new Promise((resolve, reject) => {
      const req = request({ host: upstreamUrl.hostname, port: upstreamUrl.port, method, path, headers: out, agent: keepAlive }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  function answer(res: ServerResponse, up: Upstream): void {
    const headers: Record<string, string> = {};
    if (up.headers["content-type"]) headers["content-type"] = String(up.headers["content-type"]);
    res.writeHead(up.status, headers);
    res.end(up.status === 204 ? undefined : up.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    counts.requests++;
    // Draw every decision up front, a fixed number per request, so a seed fixes the sequence.
    const [rDropReq, rDropRes, rDelay, rDelayMs, rDup, rStall] = [random(), random(), random(), random(), random(), random()];
    if (!proxy.enabled || !applies(method, path)) {
      counts.untouched++;
      answer(res, await forward(method, path, req.headers, body));
      return;
    }
    if (rDropReq < (opts.dropRequest ?? 0)) {
      counts.droppedRequests++;
      req.socket.destroy();
      return;
    }
    if (rDelay < (opts.delay ?? 0)) {
      counts.delayed++;
      await new Promise((r) => setTimeout(r, Math.floor(rDelayMs * (opts.maxDelayMs ?? 0))));
    }
    const posting = isResults(method, path, body);
    const stalled = posting && rStall < (opts.stallResults ?? 0);
    if (stalled) {
      counts.stalledResults++;
      await new Promise((r) => setTimeout(r, opts.stallMs ?? 0));
    }
    let up: Upstream;
    if (posting && rDup < (opts.duplicateResults ?? 0)) {
      counts.duplicatedResults++;
      // Both copies race to the coordinator; the agent sees the first answer.
      const replay = replayOf(method, path, body);
      const replayHeaders = { ...req.headers, "content-length": String(replay.length) };
      const [first, second] = [forward(method, path, req.headers, body), forward(method, path, replayHeaders, replay)];
      second.then((u) => countStale(u, stalled), () => counts.upstreamErrors++);
      up = countStale(await first, stalled);
    } else {
      up = await forward(method, path, req.headers, body);
      if (posting) countStale(up, stalled);
    }
    if (rDropRes < (opts.dropResponse ?? 0)) {
      counts.droppedResponses++;
      req.socket.destroy();
      return;
    }
    answer(res, up);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks)).catch(() => {
        counts.upstreamErrors++;
        if (!res.headersSent) {
          res.writeHead(502, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { code: "bad_gateway", message: "chaos proxy: upstream failed" } }));
        }
      });
    });
  });
  const listening = await listenOnLoopback(server);

  const proxy: ChaosProxy = {
    url: listening.url,
    counts,
    enabled: true,
    report: () =>
      `chaos proxy: ${counts.requests} requests, ${counts.droppedRequests} dropped before forwarding, ` +
      `${counts.droppedResponses} answers dropped after the coordinator acted, ${counts.delayed} delayed (≤ ${opts.maxDelayMs ?? 0} ms), ` +
      `${counts.duplicatedResults} result posts sent twice, ${counts.stalledResults} held ${opts.stallMs ?? 0} ms, ` +
      `${counts.answeredStale} results answered stale (${counts.staleAfterStall} of them held), ${counts.untouched} untouched, ${counts.upstreamErrors} upstream errors`,
    close: () => {
      keepAlive.destroy();
      return listening.close();
    },
  };
  return proxy;
}
