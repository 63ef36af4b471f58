// Every route × every credential gets exactly the status it must, and the
// checks a matrix cannot make: one agent acting on another's leases,
// revocation handing leases back, the poll rate limit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authz, type AuthzReport } from "./authz-cases.js";
import { closeAllScopes } from "./scope.js";

afterAll(closeAllScopes);

describe("adversarial: authorization", () => {
  let report: AuthzReport;
  beforeAll(async () => {
    report = await authz();
  }, 60_000);

  it("every route × {no token, malformed, wrong, submit, shared agent, agent, revoked agent, other X-Agent-Id} answers as it must, 100%", () => {
    expect(report.matrix.failures).toEqual([]);
    expect(report.matrix.asExpected).toBe(report.matrix.cells);
    // Every route the coordinator documents is in the matrix.
    expect(report.matrix.uncovered ?? []).toEqual([]);
  });

  it("an agent cannot release, extend, reject or complete another agent's lease", () => {
    const cross = report.checks.filter((c) => c.check.includes("another agent's lease"));
    expect(cross.filter((c) => !c.ok).map((c) => `${c.check}: expected ${c.expected}, got ${c.got}`)).toEqual([]);
  });

  it("revoking an agent puts its leases back and refuses its calls; the poll rate limit answers 429", () => {
    const rest = report.checks.filter((c) => !c.check.includes("another agent's lease"));
    expect(rest.filter((c) => !c.ok).map((c) => `${c.check}: expected ${c.expected}, got ${c.got}`)).toEqual([]);
  });
});
