// A tampering HTTP proxy between agents and the coordinator, for tests of the
// agent's checks. It forwards every request; hooks may rewrite a request's
// headers or replace a response body before the agent sees it.

import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { listenOnLoopback } from "./loopback.js";

export interface ProxyHooks {
  /** Rewrites request headers (e.g. X-Agent-Id) before forwarding. */
  requestHeaders?: (path: string, headers: IncomingHttpHeaders) => IncomingHttpHeaders;
  /** Replaces a response: return the new status and body text, or undefined to pass it on. */
  response?: (path: string, status: number, body: string) => Promise<{ status: number; body: string } | undefined> | { status: number; body: string } | undefined;
}

export interface Proxy {
  url: string;
  hooks: ProxyHooks;
  close(): Promise<void>;
}

export async function startProxy(target: string, hooks: ProxyHooks = {}): Promise<Proxy> {
  const upstream = new URL(target);
  const proxy: Proxy = { url: "", hooks, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const headers = proxy.hooks.requestHeaders?.(path, { ...req.headers }) ?? { ...req.headers };
      headers.host = upstream.host;
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path, headers },
        (up) => {
          const body: Buffer[] = [];
          up.on("data", (c: Buffer) => body.push(c));
          up.on("end", async () => {
            const text = Buffer.concat(body).toString("utf8");
            const replaced = await proxy.hooks.response?.(path, up.statusCode ?? 502, text);
            const status = replaced?.status ?? up.statusCode ?? 502;
            const payload = replaced?.body ?? text;
            res.writeHead(status, payload ? { "content-type": "application/json" } : {});
            res.end(status === 204 ? undefined : payload);
          });
        },
      );
      out.on("error", () => {
        res.writeHead(502);
        res.end();
      });
      out.end(Buffer.concat(chunks));
    });
  });
  const listening = await listenOnLoopback(server);
  proxy.url = listening.url;
  proxy.close = listening.close;
  return proxy;
}
