// The queue's Durable Object restarted, losing its in-memory waiters
// (parked long-polls and result waiters): agents and submitters recover by
// themselves.
import { afterAll, expect, it } from "vitest";
import { waitersLost } from "./cases.js";
import { closeAllScopes } from "./harness.js";

afterAll(closeAllScopes);

it("object restarts losing parked polls and result waiters: agents recover without operator action, 0 lost, 0 recorded twice", async () => {
  const r = await waitersLost({ rounds: 6, jobsPerRound: 500, agents: 3, concurrency: 4, timeoutMs: 60_000 });
  expect(r.resets).toBe(6);
  expect(r.parkedWaiter503s).toBeGreaterThanOrEqual(6); // told to retry, not left hanging
  expect(r.worstFirstResultMs).toBeLessThan(5_000);
  expect(r.audit.inconsistent).toEqual([]);
  expect(r.audit).toMatchObject({ submitted: 3_006, done: 3_006, failed: 0, lost: 0, recordedTwice: 0 });
});
