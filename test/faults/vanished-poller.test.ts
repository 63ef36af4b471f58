// A task handed to a long-poll whose client has gone away is back in the
// queue within the delivery lease (10 s by default) and done by another agent.
import { afterAll, expect, it } from "vitest";
import { vanishedPoller } from "./cases.js";
import { closeAllScopes } from "./harness.js";

afterAll(closeAllScopes);

it("a task handed to a vanished poller is done by another agent within ~12 s (default delivery lease 10 s)", async () => {
  const r = await vanishedPoller({ timeoutMs: 60_000 });
  expect(r.ghostHadIt).toBe(true);
  expect(r.doneBy).toBe(r.agentId);
  expect(r.rescueMs).toBeLessThanOrEqual(12_000);
  expect(r.audit.inconsistent).toEqual([]);
  expect(r.audit).toMatchObject({ submitted: 1, done: 1, lost: 0, recordedTwice: 0 });
});
