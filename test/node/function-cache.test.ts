import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/protocol/client.js";
import { FunctionCache } from "../../worker-agent/src/functions.js";

/** Three sources of 40 characters each, by their hashes, and a loader that counts its calls. */
async function fixture() {
  const sources = ["(x) => x + 1".padEnd(40, " "), "(x) => x + 2".padEnd(40, " "), "(x) => x + 3".padEnd(40, " ")];
  const hashes = await Promise.all(sources.map((s) => sha256Hex(s)));
  const loads: string[] = [];
  const load = async (fnHash: string): Promise<unknown> => {
    loads.push(fnHash);
    return { fnHash, source: sources[hashes.indexOf(fnHash)] };
  };
  return { sources, hashes, loads, load };
}

describe("FunctionCache eviction", () => {
  it("counts a peek() hit as a use: the source tasks keep peeking at outlives one not used since", async () => {
    const { sources, hashes, loads, load } = await fixture();
    const [a, b, c] = hashes as [string, string, string];
    // Room for two sources, not three.
    const cache = new FunctionCache(load, 90);
    expect(await cache.get(a)).toBe(sources[0]);
    expect(await cache.get(b)).toBe(sources[1]);
    // The hot path: tasks of `a` find it with peek() and never call get().
    for (let i = 0; i < 3; i++) expect(cache.peek(a)).toBe(sources[0]);
    expect(await cache.get(c)).toBe(sources[2]);
    // `b` was the least recently used, so it went; `a` stayed without another load.
    expect(cache.peek(a)).toBe(sources[0]);
    expect(cache.peek(b)).toBeUndefined();
    expect(cache.peek(c)).toBe(sources[2]);
    expect(loads).toEqual([a, b, c]);
  });

  it("without peeks, evicts in the order get() last used them", async () => {
    const { hashes, loads, load } = await fixture();
    const [a, b, c] = hashes as [string, string, string];
    const cache = new FunctionCache(load, 90);
    await cache.get(a);
    await cache.get(b);
    await cache.get(a);
    await cache.get(c);
    expect(cache.peek(b)).toBeUndefined();
    expect(cache.peek(a)).toBeDefined();
    await cache.get(b);
    expect(loads).toEqual([a, b, c, b]);
  });
});
