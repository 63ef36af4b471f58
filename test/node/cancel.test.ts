import { describe, expect, it } from "vitest";
import { Cancel } from "../../worker-agent/src/cancel.js";

describe("Cancel (a held task's cancellation)", () => {
  it("runs each listener once on the first abort, keeps that reason, and skips removed listeners", () => {
    const cancel = new Cancel();
    const calls: string[] = [];
    const a = (): void => void calls.push(`a:${String(cancel.reason)}`);
    const b = (): void => void calls.push("b");
    const c = (): void => void calls.push("c");
    cancel.addEventListener("abort", a);
    cancel.addEventListener("abort", b);
    cancel.addEventListener("abort", c);
    cancel.removeEventListener("abort", b);
    expect(cancel.aborted).toBe(false);
    cancel.abort("first");
    cancel.abort("second");
    expect(cancel.aborted).toBe(true);
    expect(cancel.reason).toBe("first");
    expect(calls).toEqual(["a:first", "c"]);
  });

  it("never calls a listener added after the abort", () => {
    const cancel = new Cancel();
    cancel.abort(new Error("gone"));
    let called = false;
    cancel.addEventListener("abort", () => (called = true));
    cancel.abort("again");
    expect(called).toBe(false);
    expect((cancel.reason as Error).message).toBe("gone");
  });
});
