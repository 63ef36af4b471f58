// 12,000 malformed and hostile requests over every route, by both roles and
// none: no answer ≥ 500, every error a JSON error without stack text, and the
// queue's invariants hold afterwards (audited from the coordinator's records).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuzz, type FuzzReport } from "./fuzz-cases.js";
import { closeAllScopes } from "./scope.js";

afterAll(closeAllScopes);

const SEED = Number(process.env.DIST_FUZZ_SEED ?? 20_260_426);

describe("adversarial: fuzzer", () => {
  let report: FuzzReport;
  beforeAll(async () => {
    report = await fuzz({ requests: 12_000, seed: SEED, concurrency: 16, auditJobs: 300, timeoutMs: 150_000 });
  }, 240_000);

  it("12,000 random hostile requests over every route: 0 answers ≥ 500, every error JSON, the queue's invariants hold", () => {
    const r = report;
    expect(r.sent).toBe(12_000);
    for (const route of r.byRoute.values()) expect(route.requests).toBeGreaterThan(0);
    expect(r.uncovered ?? []).toEqual([]);
    expect(r.answersAtLeast500).toBe(0);
    expect(r.problems.map((p) => `${p.problem}: ${p.request}`)).toEqual([]);
    expect(r.invariants.filter((i) => !i.ok).map((i) => `${i.check}: ${i.got}`)).toEqual([]);
  });

  it("every targeted hostile request (deep nesting, size limits, surrogates, __proto__, odd ids) is answered < 500 as required", () => {
    expect(report.targeted.filter((t) => !t.ok).map((t) => `${t.name}: ${t.statuses}`)).toEqual([]);
  });
});
