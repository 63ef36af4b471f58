// The agent's automatic prefetch (about 250 ms of work, from what it finished
// lately) and its "task done" lines (each one up to 20 a second, the rest
// summed up), with the clock passed in or real short waits.
import { describe, expect, it } from "vitest";
import { createLogger } from "../../worker-agent/src/log.js";
import { Prefetch } from "../../worker-agent/src/prefetch.js";
import { TaskLog } from "../../worker-agent/src/task-log.js";

describe("prefetch", () => {
  it("a number is used as given", () => {
    const p = new Prefetch(3, 254);
    for (let i = 0; i < 100; i++) p.done(i);
    expect(p.current(100)).toBe(3);
  });

  it("auto holds what the agent finished in the last 250 ms window, capped, and starts over after an idle spell", () => {
    const p = new Prefetch("auto", 200);
    expect(p.current(0)).toBe(0); // nothing known yet: only the slots
    for (let t = 0; t < 250; t += 5) p.done(1_000 + t); // 50 tasks in one window
    expect(p.current(1_249)).toBe(50);
    expect(p.current(1_260)).toBe(50); // the next window starts with the last one's count
    for (let t = 0; t < 250; t++) p.done(1_260 + t); // 250 in the next: capped at 200
    expect(p.current(1_515)).toBe(200);
    expect(p.current(5_000)).toBe(0); // idle for seconds: no prefetch until it is busy again
  });
});

describe("task log", () => {
  it("logs each of the first 20 successes in a second, every failure, and sums up the rest", async () => {
    const lines: string[] = [];
    const log = new TaskLog(createLogger("info", (line) => lines.push(line)));
    for (let i = 0; i < 25; i++) log.done(true, () => ({ jobId: `j${i}`, ms: 1 }));
    log.done(false, () => ({ jobId: "bad", ms: 1, code: "error" }));
    expect(lines.filter((l) => / task done .*ok=true/.test(l))).toHaveLength(20);
    expect(lines.filter((l) => /jobId=bad .*ok=false/.test(l))).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(lines.filter((l) => / tasks done ok=5 unlisted=true/.test(l))).toHaveLength(1);
    log.summarize(); // nothing left to sum up
    expect(lines.filter((l) => / tasks done /.test(l))).toHaveLength(1);
  });
});
