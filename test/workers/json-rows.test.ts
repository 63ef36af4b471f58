// inJsonChunks: how lists reach SQLite as JSON parameters (src/queue/json-rows.ts).
import { describe, expect, it } from "vitest";
import { inJsonChunks } from "../../src/queue/json-rows.js";

function collect<T>(rows: T[], budget: number, withAlone = true) {
  const bulks: string[] = [];
  const alone: T[] = [];
  inJsonChunks(rows, (json) => void bulks.push(json), withAlone ? (row) => void alone.push(row) : undefined, budget);
  return { bulks, alone };
}

describe("inJsonChunks", () => {
  it("sends a list within the budget as one JSON array, and nothing for an empty one", () => {
    const rows = [["a", 1], ["b", 2]];
    expect(collect(rows, 1_000).bulks).toEqual([JSON.stringify(rows)]);
    expect(collect([], 1_000).bulks).toEqual([]);
  });

  it("cuts a list over the budget into arrays under it, in order, and hands a row too big to share one to `alone`", () => {
    const rows = Array.from({ length: 50 }, (_, i) => ["row", i, "x".repeat(i % 7)]);
    const big = ["big", -1, "y".repeat(200)];
    const { bulks, alone } = collect([...rows.slice(0, 20), big, ...rows.slice(20)], 120);
    expect(bulks.length).toBeGreaterThan(5);
    for (const json of bulks) expect(json.length).toBeLessThanOrEqual(120);
    expect(bulks.flatMap((json) => JSON.parse(json) as unknown[])).toEqual(rows);
    expect(alone).toEqual([big]);
  });

  it("without `alone`, a row over the budget still goes, in an array of its own", () => {
    const rows = [["a"], ["z".repeat(300)], ["b"]];
    const { bulks } = collect(rows, 100, false);
    expect(bulks.flatMap((json) => JSON.parse(json) as unknown[])).toEqual(rows);
    expect(bulks).toContain(JSON.stringify([rows[1]]));
  });
});
