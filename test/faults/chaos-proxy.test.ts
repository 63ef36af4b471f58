// Agents talk to the coordinator only through a proxy that drops
// connections before and after the coordinator acts, delays requests, sends
// result posts twice and holds a few past their lease. Agents batch their
// results (~200 requests for 2,500 jobs), so result posts are held with 5%
// odds: enough that some results always come back late.
import { afterAll, expect, it } from "vitest";
import { chaosProxy } from "./cases.js";
import { closeAllScopes } from "./harness.js";

afterAll(closeAllScopes);

it("a chaos proxy dropping, delaying and duplicating agent traffic: 0 lost, 0 recorded twice", async () => {
  const r = await chaosProxy({
    jobs: 2_500,
    agents: 4,
    concurrency: 4,
    chaos: { seed: 42, dropRequest: 0.03, dropResponse: 0.03, delay: 0.2, maxDelayMs: 300, duplicateResults: 0.3, stallResults: 0.05, stallMs: 4_000 },
    timeoutMs: 180_000,
  });
  expect(r.counts.droppedRequests).toBeGreaterThan(0);
  expect(r.counts.droppedResponses).toBeGreaterThan(0);
  expect(r.counts.duplicatedResults).toBeGreaterThan(0);
  expect(r.counts.staleAfterStall).toBeGreaterThan(0); // late results were fenced off
  expect(r.audit.inconsistent).toEqual([]);
  expect(r.audit).toMatchObject({ submitted: 2_500, done: 2_500, failed: 0, lost: 0, recordedTwice: 0 });
});
