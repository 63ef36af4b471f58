// Who may poll now, and who polled when: a token bucket per agent (the
// queue's AGENT_POLL_RATE a second, twice that saved) and each agent's last
// poll, which "why is my job waiting?" and the overview read. Memory only: a
// restart forgets both, and agents poll again within seconds.

import { prune, take, type Bucket } from "./rate-limit.js";
import { SEEN_WINDOW_MS, type AgentSighting } from "./wait-explanation.js";

/** Past this many agents, the full buckets and old sightings are dropped. */
const MAX_TRACKED = 10_000;

export class PollGate {
  private readonly buckets = new Map<string, Bucket>();
  readonly sightings = new Map<string, AgentSighting>();

  constructor(private readonly rate: number) {}

  /** Admits a poll by `agentId` asking for `slots` and records the sighting, or says how long until it may. */
  admit(agentId: string, slots: number, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    if (this.buckets.size > MAX_TRACKED) prune(this.buckets, now, this.rate, this.rate * 2);
    const allowed = take(this.buckets, agentId, now, this.rate, this.rate * 2);
    if (!allowed.ok) return allowed;
    this.sightings.set(agentId, { lastPollAt: now, slots });
    if (this.sightings.size > MAX_TRACKED) {
      for (const [id, s] of this.sightings) if (now - s.lastPollAt > SEEN_WINDOW_MS) this.sightings.delete(id);
    }
    return allowed;
  }
}
