// Hostile requests the random fuzzer reaches only by luck, sent on purpose:
// nesting deep enough to overflow a recursive serializer (on the way in, and
// on the way out through a poll), bodies at and past every size limit, lone
// surrogates, `__proto__` keys, ids of every odd shape. Each must be answered
// below 500 — with its expected status where one is documented — and every
// error must be the JSON error shape.

import { jsonOf, type Enrolled, type RawClient, type RawReply } from "./http.js";

export interface TargetEnv {
  client: RawClient;
  submit: string;
  shared: string;
  agent: Enrolled;
}

export interface Targeted {
  name: string;
  /** Status the last request must get, when the contract names one. */
  expect?: number;
  run(env: TargetEnv): Promise<RawReply[]>;
}

export interface TargetedVerdict {
  name: string;
  statuses: string;
  ok: boolean;
  detail: string;
}

const deep = (d: number): string => "[".repeat(d) + "]".repeat(d);
const deepObject = (d: number): string => '{"a":'.repeat(d) + "1" + "}".repeat(d);

function as(env: TargetEnv, who: "submit" | "agent" | "shared") {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (who === "submit") headers.authorization = `Bearer ${env.submit}`;
  if (who === "shared") headers.authorization = `Bearer ${env.shared}`;
  if (who === "agent") Object.assign(headers, { authorization: `Bearer ${env.agent.credential}`, "x-agent-id": env.agent.agentId });
  return (method: string, path: string, body?: string, extra: Record<string, string> = {}) =>
    env.client.send({ method, path, headers: { ...headers, ...extra }, body, timeoutMs: 60_000 });
}

/** Submits `input` (JSON text) alone on a fresh queue, then polls that queue: both must be answered below 500. */
function submitThenPoll(name: string, input: string): Targeted {
  return {
    name,
    async run(env) {
      const queue = `t-${Math.random().toString(36).slice(2, 10)}`;
      const sub = await as(env, "submit")("POST", "/v1/jobs", `{"fn":"(x) => 1","input":${input},"queue":"${queue}"}`);
      const poll = await as(env, "agent")("POST", "/v1/agent/poll", JSON.stringify({ slots: 1, wait: 0, queue }));
      return [sub, poll];
    },
  };
}

/** Leases a fresh job, then posts `value` (JSON text) as its result. */
function resultValue(name: string, value: string): Targeted {
  return {
    name,
    async run(env) {
      const queue = `t-${Math.random().toString(36).slice(2, 10)}`;
      await as(env, "submit")("POST", "/v1/jobs", JSON.stringify({ fn: "(x) => x", input: 1, queue }));
      const poll = await as(env, "agent")("POST", "/v1/agent/poll", JSON.stringify({ slots: 1, wait: 1, queue }));
      const leaseId = JSON.parse(jsonOf(poll)?.payload ?? '{"tasks":[{}]}').tasks[0]?.leaseId ?? `${queue}.AAAAAAAAAAAAAAAAAAAAAA`;
      return [poll, await as(env, "agent")("POST", "/v1/agent/results", `{"results":[{"leaseId":"${leaseId}","ok":true,"value":${value}}]}`)];
    },
  };
}

const one = (name: string, who: "submit" | "agent" | "shared", method: string, path: string, body?: string, expect?: number, extra?: Record<string, string>): Targeted => ({
  name,
  expect,
  run: async (env) => [await as(env, who)(method, path, body, extra)],
});

export const TARGETED: Targeted[] = [
  submitThenPoll("input nested 100,000 deep, then a poll", deep(100_000)),
  submitThenPoll("input nested 10,000 deep, then a poll", deep(10_000)),
  submitThenPoll("input of objects nested 10,000 deep, then a poll", deepObject(10_000)),
  submitThenPoll("input with lone surrogates, then a poll", '"\\ud800\\udfff\\ud800"'),
  resultValue("result nested 5,000 deep", deep(5_000)),
  resultValue("result nested 100,000 deep", deep(100_000)),
  resultValue("result of 1 MB + 1 (recorded as result_too_large)", JSON.stringify("r".repeat(1024 * 1024 + 1))),
  one("a 17 MB body", "submit", "POST", "/v1/jobs", JSON.stringify({ fn: "(x) => x", input: "y".repeat(17 * 1024 * 1024) }), 413),
  one("an input of 1.1 MB", "submit", "POST", "/v1/jobs", JSON.stringify({ fn: "(x) => x", input: "y".repeat(1_100_000) }), 413),
  one("10,001 inputs", "submit", "POST", "/v1/jobs", JSON.stringify({ fn: "(x) => x", inputs: Array(10_001).fill(0), queue: "t-big" }), 400),
  one("10,000 inputs of 1.5 KB (the largest batch)", "submit", "POST", "/v1/jobs", JSON.stringify({ fn: "(x) => x", inputs: Array(10_000).fill("z".repeat(1500)), queue: "t-big" }), 201),
  one("a job body whose __proto__ carries fn", "submit", "POST", "/v1/jobs", '{"__proto__":{"fn":"(x) => x"},"input":1}', 400),
  one("a poll body whose __proto__ carries slots", "agent", "POST", "/v1/agent/poll", '{"__proto__":{"slots":1},"wait":0}', 400),
  one("enroll with lone surrogates in labels", "shared", "POST", "/v1/agent/enroll", '{"name":"s","labels":["\\ud800","\\udfff"]}', 201),
  one("1,000 results of 15 KB each", "agent", "POST", "/v1/agent/results", JSON.stringify({ results: Array.from({ length: 1000 }, () => ({ leaseId: "default.AAAAAAAAAAAAAAAAAAAAAA", ok: true, value: "v".repeat(15_000) })) }), 200),
  one("1,000 heartbeat lease ids of 128 characters", "agent", "POST", "/v1/agent/heartbeat", JSON.stringify({ leaseIds: Array.from({ length: 1000 }, (_, i) => `default.${String(i).padStart(120, "A")}`) }), 200),
  one("GET a job id %00", "submit", "GET", "/v1/jobs/%00", undefined, 404),
  one("GET a job id %ff (invalid UTF-8)", "submit", "GET", "/v1/jobs/%ff", undefined, 404),
  one("GET a job id of 7,000 characters", "submit", "GET", `/v1/jobs/default.${"A".repeat(7000)}.0`, undefined, 404),
  one("GET a batch by path traversal", "submit", "GET", "/v1/batches/..%2F..%2Fv1%2Fagents", undefined, 404),
  one("an Idempotency-Key outside ASCII", "submit", "POST", "/v1/jobs", JSON.stringify({ fn: "(x) => x", input: 1 }), 400, { "idempotency-key": "caf\u00e9" }),
  one("an X-Agent-Id of 200 characters", "agent", "POST", "/v1/agent/poll", JSON.stringify({ slots: 1, wait: 0 }), 401, { "x-agent-id": "x".repeat(200) }),
];

/** Every answer below 500 and, when not 2xx, a JSON error; the last one with its expected status. */
export function judgeTargeted(t: Targeted, replies: RawReply[]): TargetedVerdict {
  const problems: string[] = [];
  for (const r of replies) {
    if (r.status === 0) problems.push(`no answer (${r.error})`);
    else if (r.status >= 500) problems.push(`${r.status} ${jsonOf(r)?.error?.code ?? ""}`);
    else if (r.status >= 300 && typeof jsonOf(r)?.error?.code !== "string") problems.push(`${r.status} not a JSON error`);
  }
  const last = replies.at(-1);
  if (t.expect !== undefined && last?.status !== t.expect) problems.push(`expected ${t.expect}`);
  return {
    name: t.name,
    statuses: replies.map((r) => `${r.status || "—"}${jsonOf(r)?.error?.code ? ` ${jsonOf(r).error.code}` : ""}`).join(" → "),
    ok: problems.length === 0,
    detail: problems.join("; "),
  };
}
