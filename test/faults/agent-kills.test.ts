// 10,000 small jobs on 4 agents while a random agent is SIGKILLed and
// restarted at least 10 times (and, from halfway, agents are frozen past
// their leases and thawed): nothing lost, nothing recorded twice.
import { afterAll, expect, it } from "vitest";
import { agentKills } from "./cases.js";
import { closeAllScopes } from "./harness.js";

afterAll(closeAllScopes);

it("10,000 jobs on 4 agents, a random agent SIGKILLed and restarted ≥ 10 times: 0 lost, 0 recorded twice", async () => {
  const r = await agentKills({ jobs: 10_000, agents: 4, concurrency: 4, kills: 12, killEveryMs: [500, 1_200], freezes: 3, freezeMs: 4_000, timeoutMs: 240_000 });
  expect(r.kills).toBeGreaterThanOrEqual(10);
  expect(r.freezes).toBe(3);
  expect(r.audit.inconsistent).toEqual([]);
  expect(r.audit).toMatchObject({ submitted: 10_000, done: 10_000, failed: 0, lost: 0, recordedTwice: 0 });
});
