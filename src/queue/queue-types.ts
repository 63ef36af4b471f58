// What the queue object answers its callers (the Worker's routes), beyond
// the wire types in src/protocol: metrics figures, a parked long-poll's
// request, and a poll's answer before it becomes an HTTP response.

import type { Envelope } from "../protocol/index.js";

export interface QueueStats {
  byState: Record<string, number>;
  totals: Record<string, number>;
  pollersWaiting: number;
}

export interface ParkRequest {
  queue: string;
  agentId: string;
  slots: number;
  waitMs: number;
  session?: string;
}

export type PollAnswer = { kind: "tasks"; envelope: Envelope } | { kind: "empty" } | { kind: "rate_limited"; retryAfterMs: number };
