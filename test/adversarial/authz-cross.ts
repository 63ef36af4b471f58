// Authorization beyond the matrix: what one enrolled agent may do to
// another's leases (nothing: release, extend, reject, complete, by any route),
// what revoking an agent does (its leases go back, its calls are refused),
// and the poll rate limit (429 with Retry-After, never 5xx).

import type { Coordinator } from "../helpers/coordinator.js";
import { asAgent, asSubmitter, enroll, jsonOf, type RawClient } from "./http.js";

export interface CheckRow {
  check: string;
  expected: string;
  got: string;
  ok: boolean;
}

/** One agent acting on another's leases, revocation giving leases back, the poll rate limit. */
export async function crossAgentChecks(client: RawClient, coord: Coordinator, shared: string): Promise<CheckRow[]> {
  const submit = asSubmitter(client, coord.submitToken);
  const x = await enroll(client, shared, "owner");
  const y = await enroll(client, shared, "intruder");
  const asX = asAgent(client, x);
  const asY = asAgent(client, y);
  const rows: CheckRow[] = [];
  const check = (name: string, expected: string, got: string, ok: boolean) => rows.push({ check: name, expected, got, ok });

  await submit("POST", "/v1/jobs", { fn: "(x) => x", inputs: [1, 2, 3], queue: "authz", timeoutMs: 30_000, maxAttempts: 3 });
  const polled = await asX("POST", "/v1/agent/poll", { slots: 3, wait: 1, queue: "authz" });
  const tasks: Array<{ leaseId: string; jobId: string }> = polled.status === 200 ? JSON.parse(polled.body.payload).tasks : [];
  if (tasks.length !== 3) throw new Error(`owner poll: ${polled.status} with ${tasks.length} tasks`);
  type T = { leaseId: string; jobId: string };
  const [t1, t2, t3] = tasks as [T, T, T];
  await asX("POST", "/v1/agent/heartbeat", { leaseIds: [t1.leaseId, t2.leaseId, t3.leaseId] });

  const rel = await asY("POST", "/v1/agent/release", { queue: "authz", leaseIds: [t1.leaseId] });
  check("release another agent's lease", "stale", rel.body?.released?.length ? "released" : `${rel.status} stale`, rel.status === 200 && (rel.body?.released?.length ?? 0) === 0);
  const hb = await asY("POST", "/v1/agent/heartbeat", { leaseIds: [t1.leaseId] });
  check("heartbeat another agent's lease", "stale", hb.body?.active?.includes(t1.leaseId) ? "active (extended)" : `${hb.status} not active`, !hb.body?.active?.includes(t1.leaseId));
  const rj = await asY("POST", "/v1/agent/results", { results: [{ leaseId: t1.leaseId, ok: false, rejected: "signature_rejected" }] });
  check("report another agent's lease rejected", "stale", rj.body?.accepted?.includes(t1.leaseId) ? "accepted" : `${rj.status} stale`, !rj.body?.accepted?.includes(t1.leaseId));
  const forged = await asY("POST", "/v1/agent/results", { results: [{ leaseId: t2.leaseId, ok: true, value: "forged" }] });
  const job2 = (await submit("GET", `/v1/jobs/${t2.jobId}`)).body;
  check(
    "complete another agent's lease",
    "stale, job not done",
    forged.body?.accepted?.includes(t2.leaseId) ? `accepted, job ${job2?.state} value ${JSON.stringify(job2?.value)}` : `${forged.status} stale`,
    !forged.body?.accepted?.includes(t2.leaseId) && job2?.value !== "forged",
  );
  const ex = await asY("POST", "/v1/agent/exchange", { queue: "authz", slots: 0, wait: 0, leaseIds: [t3.leaseId], results: [{ leaseId: t3.leaseId, ok: true, value: "forged" }] });
  const job3 = (await submit("GET", `/v1/jobs/${t3.jobId}`)).body;
  const exAccepted = ex.body?.results?.accepted?.includes(t3.leaseId) || ex.body?.heartbeat?.active?.includes(t3.leaseId);
  check(
    "extend and complete another agent's lease by exchange",
    "stale, job not done",
    ex.status !== 200 ? `${ex.status} ${ex.body?.error?.code ?? ""}` : exAccepted ? `accepted, job ${job3?.state} value ${JSON.stringify(job3?.value)}` : "stale",
    ex.status < 500 && !exAccepted && job3?.value !== "forged",
  );

  // Revocation, on leases of its own: one confirmed, one only delivered. Both go back; the agent's calls are refused.
  const v = await enroll(client, shared, "revoked-owner");
  const asV = asAgent(client, v);
  const sub2 = await submit("POST", "/v1/jobs", { fn: "(x) => x", inputs: [3, 4], queue: "authz-revoke", timeoutMs: 30_000, maxAttempts: 3 });
  const held = await asV("POST", "/v1/agent/poll", { slots: 2, wait: 1, queue: "authz-revoke" });
  const vTasks: Array<{ leaseId: string; jobId: string }> = held.status === 200 ? JSON.parse(held.body.payload).tasks : [];
  if (vTasks.length !== 2) throw new Error(`revoked-owner poll: ${held.status} with ${vTasks.length} tasks`);
  await asV("POST", "/v1/agent/heartbeat", { leaseIds: [vTasks[0]!.leaseId] });
  const revoke = await submit("DELETE", `/v1/agents/${v.agentId}`);
  check("revoke an agent holding 2 leases", "200, released 2", `${revoke.status}, released ${revoke.body?.released}`, revoke.status === 200 && revoke.body?.released === 2);
  const states: string[] = [];
  for (const t of vTasks) {
    const job = (await submit("GET", `/v1/jobs/${t.jobId}`)).body;
    states.push(`${job?.state}/${job?.history?.at(-1)?.outcome}`);
  }
  check("its leases are back in the queue", "queued/released ×2", states.join(", "), states.every((x) => x === "queued/released"));
  const late = await asV("POST", "/v1/agent/results", { results: vTasks.map((t) => ({ leaseId: t.leaseId, ok: true, value: "late" })) });
  check("the revoked agent posts results", "401 revoked", `${late.status} ${late.body?.error?.code ?? late.reply.error ?? ""}`, late.status === 401 && late.body?.error?.code === "revoked");
  const again = await asV("POST", "/v1/agent/poll", { slots: 1, wait: 0, queue: "authz-revoke" });
  check("the revoked agent polls", "401 revoked", `${again.status} ${again.body?.error?.code ?? again.reply.error ?? ""}`, again.status === 401 && again.body?.error?.code === "revoked");
  const z = await enroll(client, shared, "rescuer");
  const asZ = asAgent(client, z);
  const rescue = await asZ("POST", "/v1/agent/poll", { slots: 2, wait: 2, queue: "authz-revoke" });
  const rescued: Array<{ leaseId: string; input: number }> = rescue.status === 200 ? JSON.parse(rescue.body.payload).tasks : [];
  const done = rescued.length ? await asZ("POST", "/v1/agent/results", { results: rescued.map((t) => ({ leaseId: t.leaseId, ok: true, value: t.input })) }) : undefined;
  const batch = (await submit("GET", `/v1/batches/${sub2.body.batchId}`)).body;
  check("another agent finishes them", "2 re-leased, batch done", `${rescued.length} re-leased, ${done?.body?.accepted?.length ?? 0} accepted, done=${batch?.done}`, rescued.length === 2 && batch?.done === true);

  // The poll rate limit: one agent polling far past its rate gets 429 rate_limited with Retry-After, never 5xx.
  const w = await enroll(client, shared, "hasty");
  const headers = { authorization: `Bearer ${w.credential}`, "x-agent-id": w.agentId, "content-type": "application/json" };
  const replies = await Promise.all(
    Array.from({ length: 400 }, () => client.send({ method: "POST", path: "/v1/agent/poll", headers, body: JSON.stringify({ slots: 1, wait: 0, queue: "authz-rate" }) })),
  );
  const limited = replies.filter((r) => r.status === 429);
  const wellFormed = limited.every((r) => jsonOf(r)?.error?.code === "rate_limited" && Number(r.headers["retry-after"]) >= 1);
  const fives = replies.filter((r) => r.status >= 500 || r.status === 0).length;
  check("400 polls at once by one agent", "some 429 rate_limited + Retry-After, no 5xx", `${limited.length}×429, ${replies.filter((r) => r.status === 204).length}×204, ${fives}×5xx`, limited.length > 0 && wellFormed && fives === 0);
  return rows;
}
