// Envelopes altered in flight (every payload field, the signature, the key
// id), signed by a rogue key, expired, a function source swapped, an
// envelope handed to another agent, replayed within a session and after a
// restart, and tasks forged under the real key for an agent that trusts one
// submitter, through POST /v1/agent/exchange (the agent's default); some
// again through POST /v1/agent/poll (--no-exchange). Every one refused
// and reported, none executed, the agent alive: judged from the proxy's and
// the coordinator's records.
import { afterAll, describe, expect, it } from "vitest";
import { ENVELOPE_TAMPERS } from "../helpers/tamper.js";
import { closeAllScopes } from "./scope.js";
import { SCENARIOS, tampering } from "./tampering-cases.js";

afterAll(closeAllScopes);

describe("adversarial: tampering", () => {
  it("tampered, foreign, replayed and coordinator-forged envelopes (by exchange and by poll): 100% refused and reported, none executed", async () => {
    const verdicts = await tampering({
      cases: ENVELOPE_TAMPERS,
      expired: true,
      scenarios: SCENARIOS,
      compromised: true,
      viaPoll: ["payload.v", "task.leaseId", "task.fnHash", "a second task", "sig: one character", "kid: an object", "evil fnHash, re-signed", "payload sent as an object"],
      timeoutMs: 60_000,
    });
    const cases = verdicts.filter((v) => v.part !== "control");
    expect(cases.filter((v) => !v.refused).map((v) => v.name)).toEqual([]);
    expect(cases.filter((v) => v.executed > 0).map((v) => v.name)).toEqual([]);
    expect(cases.filter((v) => v.readable && !v.reported).map((v) => v.name)).toEqual([]);
    expect(cases.filter((v) => v.reported && !v.expect.includes(v.seen)).map((v) => `${v.name}: ${v.seen}`)).toEqual([]);
    expect(verdicts.filter((v) => !v.after).map((v) => v.name)).toEqual([]);
    expect(verdicts.filter((v) => !v.survived).map((v) => `${v.name}: ${v.history}`)).toEqual([]);
  });
});
