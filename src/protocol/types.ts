// Response shapes and the task envelope: what crosses the wire from the
// coordinator. Requests are described by the schemas in schemas.ts.

import type { RejectionCode } from "./codes.js";
import type { TaskError } from "./schemas.js";

export type JobState = "queued" | "leased" | "done" | "failed" | "cancelled";
export const JOB_STATES: readonly JobState[] = ["queued", "leased", "done", "failed", "cancelled"];

export interface ErrorBody {
  error: { code: string; message: string };
}

export interface SubmitResponse {
  batchId: string;
  jobIds: string[];
  fnHash: string;
}

export interface AttemptView {
  attempt: number;
  agentId: string;
  leasedAt: number;
  endedAt: number | null;
  outcome: "running" | "ok" | "error" | "expired" | "rejected" | "cancelled" | "released";
  error?: TaskError;
  rejected?: RejectionCode;
  /** Leases this agent held on this queue right after this one was granted. */
  agentHeld: number;
}

export interface JobView {
  id: string;
  batchId: string;
  index: number;
  queue: string;
  state: JobState;
  fnHash: string;
  priority: number;
  /** Leases granted so far: the length of `history`. */
  attempts: number;
  /** Attempts that spent the budget (errors, rejections, leases lost after the task started). */
  failures: number;
  maxAttempts: number;
  timeoutMs: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  agentId: string | null;
  ok?: boolean;
  value?: unknown;
  error?: TaskError;
  history: AttemptView[];
  /** The last ctx.progress() of the running attempt. */
  progress?: ProgressView;
  /** For a queued job: why it is still waiting. */
  wait?: WaitExplanation;
}

export interface WaitExplanation {
  /** Jobs that will be handed out before this one (higher priority, or same priority and older). */
  ahead: number;
  /** When a retry backoff ends, if the job is backing off. */
  availableAt: number | null;
  /** Agents that polled this queue in the last minute. */
  agentsSeen: number;
  /** Agents parked in a long-poll right now, and the free slots they asked for. */
  agentsWaiting: number;
  freeSlots: number;
  /** The same in words. */
  message: string;
}

export interface BatchView {
  id: string;
  queue: string;
  fnHash: string;
  total: number;
  done: boolean;
  counts: Record<JobState, number>;
  createdAt: number;
}

export interface ResultEntry {
  /** Position in the batch's completion order (1-based); use as the `after` cursor. */
  seq: number;
  jobId: string;
  index: number;
  ok: boolean;
  value?: unknown;
  error?: TaskError;
  /** The agent of the last attempt; null for a job cancelled before any agent took it. */
  agentId: string | null;
  attempt: number;
  finishedAt: number;
}

export interface ResultsPage {
  results: ResultEntry[];
  /** Cursor for the next call's `after`. */
  next: number;
  /** True when every job of the batch has finished and all results are in this or earlier pages. */
  done: boolean;
}

export interface HeartbeatResponse {
  /** Leases extended. */
  active: string[];
  /** Leases whose job was cancelled: abort them. */
  cancelled: string[];
  /** Leases that are no longer current (expired or superseded): stop and drop them. */
  stale: string[];
}

export interface JobsPage {
  jobs: JobView[];
  /** Cursor (a job index) for the next call's `after`. */
  next: number;
  more: boolean;
}

export interface ReleaseResponse {
  released: string[];
  stale: string[];
}

export interface ResultsResponse {
  accepted: string[];
  stale: string[];
}

/** One task inside a signed envelope. */
export interface Task {
  jobId: string;
  leaseId: string;
  attempt: number;
  queue: string;
  fnHash: string;
  input: unknown;
  timeoutMs: number;
  /** End-to-end signing: the submitter's public key (`x`) and signature over this task's fnHash and input. */
  signer?: string;
  sig?: string;
}

/** What the coordinator signs. */
export interface TaskPayload {
  v: 1;
  agentId: string;
  /** The session nonce of the poll this answers. */
  session?: string;
  issuedAt: number;
  expiresAt: number;
  /**
   * The delivery lease, in ms: a task not confirmed (named in a heartbeat)
   * within it goes back to the queue. Agents confirm well inside it and may
   * leave out tasks whose results are in by then. Absent from older coordinators.
   */
  confirmWithinMs?: number;
  tasks: Task[];
}

/** A poll answer: one signature over all the tasks it hands out. */
export interface Envelope {
  /** The exact JSON text that was signed. */
  payload: string;
  /** base64url Ed25519 signature over "dist-task-v1\n" + payload. */
  sig: string;
  kid: string;
}

export interface PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg?: "EdDSA";
  use?: "sig";
}

/** An agent's own credential, from POST /v1/agent/enroll. */
export interface EnrollResponse {
  agentId: string;
  /** Bearer token for every other agent route; shown once. */
  credential: string;
}

export interface AgentView {
  agentId: string;
  name: string;
  labels: string[];
  enrolledAt: number;
  lastSeenAt: number | null;
  revokedAt: number | null;
  queues: string[];
}

/** What the dashboard shows for one queue. */
export interface QueueOverview {
  queue: string;
  now: number;
  counts: Record<JobState, number>;
  /** Agents that polled in the last minute or hold leases: slots asked for at their last poll, tasks running now. */
  agents: Array<{ agentId: string; lastPollAt: number | null; slots: number; running: number }>;
  /** Jobs finished per minute over the last 10 minutes, oldest first: [minute start, done, failed]. */
  throughput: Array<[number, number, number]>;
  /** Up to 20 running jobs, most recent progress first. */
  running: Array<{ jobId: string; agentId: string; fraction: number | null; message?: string }>;
  /** The last 20 jobs to finish, newest first. */
  recent: Array<{ jobId: string; ok: boolean; agentId: string | null; finishedAt: number; error?: string }>;
}

export interface ProgressView {
  fraction: number;
  message?: string;
  at: number;
}

/** A running job's progress, as the event stream carries it. */
export interface ProgressEntry extends ProgressView {
  jobId: string;
  index: number;
}

/** The answer to POST /v1/agent/exchange. */
export interface ExchangeResponse {
  /** Tasks for this agent, or null if none came within `wait`. */
  envelope: Envelope | null;
  results: ResultsResponse;
  heartbeat: HeartbeatResponse;
}
