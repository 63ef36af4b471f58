// The coordinator process (Node + workerd) SIGKILLed and restarted on the
// same persisted state, twice in the middle of a batch.
import { afterAll, expect, it } from "vitest";
import { coordinatorRestarts } from "./cases.js";
import { closeAllScopes } from "./harness.js";

afterAll(closeAllScopes);

it("the coordinator killed and restarted on its persisted state mid-batch: 0 lost, 0 recorded twice", async () => {
  const r = await coordinatorRestarts({ jobs: 3_000, agents: 3, concurrency: 4, restarts: 2, downMs: 1_500, timeoutMs: 180_000 });
  expect(r.restarts).toBe(2);
  expect(r.audit.inconsistent).toEqual([]);
  expect(r.audit).toMatchObject({ submitted: 3_000, done: 3_000, failed: 0, lost: 0, recordedTwice: 0 });
});
