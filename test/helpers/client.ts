// A small submitter-side client for tests: JSON over fetch with the submit token.

export interface Reply<T = any> {
  status: number;
  body: T;
}

export function submitter(url: string, token: string) {
  async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Follows a batch's results in completion order until it is done or `timeoutMs` passes. */
  async function collect(batchId: string, timeoutMs = 60_000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    const results: any[] = [];
    let after = 0;
    while (Date.now() < deadline) {
      const page = await call("GET", `/v1/batches/${batchId}/results?after=${after}&wait=5`);
      if (page.status !== 200) throw new Error(`results: ${page.status} ${JSON.stringify(page.body)}`);
      results.push(...page.body.results);
      after = page.body.next;
      if (page.body.done) return results;
    }
    throw new Error(`batch ${batchId} not done after ${timeoutMs} ms (${results.length} results)`);
  }

  return { call, collect };
}
