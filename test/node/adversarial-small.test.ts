// The adversarial suite in small (the full one is `npm run test:adversarial`,
// test/adversarial/): a few tampered and replayed envelopes, a few sandbox
// escapes, the whole authorization matrix (it is cheap), and 1,000 fuzzed
// requests plus the targeted hostile ones. Each group prints its table.
import { afterAll, describe, expect, it } from "vitest";
import { authz } from "../adversarial/authz-cases.js";
import { fuzz } from "../adversarial/fuzz-cases.js";
import { closeAllScopes } from "../adversarial/scope.js";
import { ESCAPES, sandbox } from "../adversarial/sandbox-cases.js";
import { tampering } from "../adversarial/tampering-cases.js";
import { ENVELOPE_TAMPERS } from "../helpers/tamper.js";

afterAll(closeAllScopes);

const pick = <T extends { name: string }>(all: T[], names: string[]): T[] => {
  const found = all.filter((c) => names.some((n) => c.name.startsWith(n)));
  if (found.length !== names.length) throw new Error(`small suite: a case was renamed (${names.join(", ")})`);
  return found;
};

describe.sequential("adversarial, small", () => {
  it("tampered, foreign and replayed envelopes: all refused and reported, none executed, the agent survives", async () => {
    const verdicts = await tampering({
      cases: pick(ENVELOPE_TAMPERS, ["sig: one character changed", "task.input changed", "task.fnHash swapped", "kid: another value", "re-signed by a rogue key (pinned kid)"]),
      expired: false,
      scenarios: ["replay within a session", "another agent's envelope"],
      timeoutMs: 20_000,
    });
    const cases = verdicts.filter((v) => v.part !== "control");
    expect(cases.filter((v) => !v.refused || v.executed > 0 || !v.reported).map((v) => v.name)).toEqual([]);
    expect(cases.filter((v) => !v.expect.includes(v.seen)).map((v) => `${v.name}: ${v.seen}`)).toEqual([]);
    expect(verdicts.filter((v) => !v.after || !v.survived).map((v) => v.name)).toEqual([]);
  }, 60_000);

  it("sandbox escapes (token, ~/.ssh, file write, spawn, socket, endless loop, 100 MB result): all contained, nothing leaked, the agent keeps serving", async () => {
    const r = await sandbox({
      escapes: pick(ESCAPES, ["read the token", "read ~/.ssh", "write a file", "spawn a process", "open a socket", "loop forever", "return a 100 MB result"]),
      linger: false,
      timeoutMs: 30_000,
    });
    expect(r.verdicts.filter((v) => !v.contained).map((v) => `${v.name}: ${v.evidence}`)).toEqual([]);
    expect(r.logLeaks).toBe(0);
    expect(r.agentAlive && r.stillServing).toBe(true);
  }, 60_000);

  it("the authorization matrix: every route × every credential as it must, 100%; no agent acts on another's lease", async () => {
    const { matrix, checks } = await authz();
    expect(matrix.failures).toEqual([]);
    expect(matrix.uncovered ?? []).toEqual([]);
    expect(checks.filter((c) => !c.ok).map((c) => `${c.check}: expected ${c.expected}, got ${c.got}`)).toEqual([]);
  }, 60_000);

  it("1,000 fuzzed requests and the targeted hostile ones: 0 answers ≥ 500, every error JSON, the queue's invariants hold", async () => {
    const r = await fuzz({ requests: 1_000, seed: 424_242, concurrency: 16, auditJobs: 50, timeoutMs: 30_000 });
    expect(r.sent).toBe(1_000);
    expect(r.answersAtLeast500).toBe(0);
    expect(r.problems.map((p) => `${p.problem}: ${p.request}`)).toEqual([]);
    expect(r.targeted.filter((t) => !t.ok).map((t) => `${t.name}: ${t.statuses}`)).toEqual([]);
    expect(r.invariants.filter((i) => !i.ok).map((i) => `${i.check}: ${i.got}`)).toEqual([]);
  }, 60_000);
});
