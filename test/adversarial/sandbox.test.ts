// Escapes submitted as ordinary jobs: the token from env/argv/config, ~/.ssh,
// a file write, a process, a socket, an endless loop, unbounded memory, a
// 100 MB result, and more. Every one contained, no secret in any result or
// log line, and the same agent still serves afterwards.
import { afterAll, describe, expect, it } from "vitest";
import { closeAllScopes } from "./scope.js";
import { ESCAPES, EXTRA_ESCAPES, sandbox } from "./sandbox-cases.js";

afterAll(closeAllScopes);

describe("adversarial: sandbox escapes", () => {
  it(`${ESCAPES.length + EXTRA_ESCAPES.length + 1} escapes: 100% contained, 0 secrets leaked, the agent keeps serving`, async () => {
    const r = await sandbox({ escapes: [...ESCAPES, ...EXTRA_ESCAPES], linger: true, timeoutMs: 90_000 });
    expect(r.verdicts.filter((v) => !v.contained).map((v) => `${v.name}: ${v.evidence}`)).toEqual([]);
    expect(r.verdicts.reduce((n, v) => n + v.leaked, 0)).toBe(0);
    expect(r.logLeaks).toBe(0);
    expect(r.agentAlive).toBe(true);
    expect(r.stillServing).toBe(true);
  });
});
