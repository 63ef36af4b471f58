// The submitter's side of the HTTP API, for the `dist` CLI: JSON over fetch
// with the submit token. Errors carry the coordinator's stable code.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Api {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Lines of an NDJSON stream, until it ends or `signal` aborts. */
  lines(path: string, signal?: AbortSignal): AsyncGenerator<string>;
}

export function createApi(url: string, token: string): Api {
  const base = url.replace(/\/+$/, "");
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : null;
    if (!res.ok) {
      const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `HTTP ${res.status}`);
    }
    return data as T;
  }

  async function* lines(path: string, signal?: AbortSignal): AsyncGenerator<string> {
    const res = await fetch(base + path, { headers, signal });
    if (!res.ok || !res.body) {
      const err = ((await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `HTTP ${res.status}`);
    }
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) yield line;
      }
    }
  }

  return { call, lines };
}
