// A release's time budget holds when the coordinator is down: an agent
// stopped while it cannot reach the coordinator gives up on handing its
// leases back and exits. (Its budget once rode on AbortSignal.timeout()
// inside AbortSignal.any(), which Node can garbage collect before it fires:
// the retries then never ended. Garbage is made here so that collections run.)
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { HttpClient } from "../../worker-agent/src/http.js";
import { releaseUnconfirmed } from "../../worker-agent/src/release.js";

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("release budget", () => {
  it("gives up after its budget against a coordinator that refuses connections, however much garbage is collected meanwhile", async () => {
    const http = new HttpClient({ url: `http://127.0.0.1:${await closedPort()}`, userAgent: "test" });
    let churn = true;
    const garbage = (async () => {
      while (churn) {
        for (let i = 0; i < 2_000; i++) void new Array(64).fill(i).map(String);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const retries: unknown[] = [];
    const t0 = Date.now();
    try {
      const outcome = await Promise.race([
        releaseUnconfirmed(http, "default", { signal: new AbortController().signal, budgetMs: 400, onRetry: (err) => retries.push(err) }).then(
          () => "released",
          (err: Error) => `gave up: ${err.message}`,
        ),
        new Promise<string>((r) => setTimeout(() => r("still retrying after 5 s"), 5_000)),
      ]);
      expect(outcome).toMatch(/^gave up/);
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(retries.length).toBeGreaterThan(0); // it did retry within the budget
    } finally {
      churn = false;
      await garbage;
      http.close();
    }
  });
});
