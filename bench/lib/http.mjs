// A small keep-alive node:http JSON client for the bench's drivers (node's
// global fetch costs 2-3x the CPU per loopback request, and the drivers' CPU
// is counted in each configuration's figure).

import http from "node:http";

export function jsonClient(baseUrl, headers = {}, { maxSockets = 64 } = {}) {
  const base = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });

  /**
   * Resolves { status, body } for any status; rejects on network errors and timeouts.
   * A GET sent on a kept-alive socket that the server closed at that moment (the
   * keep-alive race: ECONNRESET, "socket hang up") is sent once more on a fresh one.
   */
  async function request(method, path, body, opts = {}) {
    try {
      return await requestOnce(method, path, body, opts);
    } catch (err) {
      if (method !== "GET" || !err.reusedSocket || err.code !== "ECONNRESET") throw err;
      return requestOnce(method, path, body, opts);
    }
  }

  function requestOnce(method, path, body, { timeoutMs = 60_000, extraHeaders = {} } = {}) {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h = { accept: "application/json", ...headers, ...extraHeaders };
    if (payload) Object.assign(h, { "content-type": "application/json", "content-length": payload.length });
    return new Promise((resolve, reject) => {
      const req = http.request(
        { hostname: base.hostname, port: base.port, path: base.pathname.replace(/\/+$/, "") + path, method, headers: h, agent },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed = null;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode, body: parsed });
          });
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on("error", (err) => {
        clearTimeout(timer);
        err.reusedSocket = req.reusedSocket;
        // Say which request failed ("socket hang up" alone does not).
        if (!err.message.startsWith(`${method} ${path}`)) err.message = `${method} ${path}: ${err.message}`;
        reject(err);
      });
      req.end(payload);
    });
  }

  /** Like request(), but a status other than `expect` is an error. */
  async function call(method, path, body, expect = 200, opts) {
    const res = await request(method, path, body, opts);
    const ok = Array.isArray(expect) ? expect.includes(res.status) : res.status === expect;
    if (!ok) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return res.body;
  }

  return { request, call, close: () => agent.destroy() };
}
