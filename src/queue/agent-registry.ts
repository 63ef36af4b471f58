// Per-agent identity. An agent enrolls once per start with the shared agent
// token and gets its own credential; only its sha256 is stored. Every other
// agent call presents that credential, so one agent can be listed and revoked
// on its own, and a revoked agent's calls are refused at once.

import { DurableObject } from "cloudflare:workers";
import { randomId, sha256Hex, type AgentView } from "../protocol/index.js";
// Credentials are stored as sha256 hex; the Worker hashes what it is shown the same way.
import type { Env } from "../env.js";
import { migrate } from "./schema.js";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS agents (
     agent_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     labels TEXT NOT NULL,             -- JSON array
     credential_hash TEXT NOT NULL UNIQUE,
     enrolled_at INTEGER NOT NULL,
     last_seen_at INTEGER,
     revoked_at INTEGER,
     queues TEXT NOT NULL DEFAULT '[]' -- JSON array of queues it polled
   )`,
];

/** last_seen_at is written at most this often per agent, so authentication stays a read. */
const SEEN_WRITE_MS = 30_000;

type AgentRow = {
  agent_id: string;
  name: string;
  labels: string;
  enrolled_at: number;
  last_seen_at: number | null;
  revoked_at: number | null;
  queues: string;
};

export const CREDENTIAL_PREFIX = "agc_";

export class AgentRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Credential hash → agent, for agents seen since this object started. */
  private readonly cache = new Map<string, { agentId: string; revoked: boolean; seenWritten: number; queues: Set<string> }>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, SCHEMA);
  }

  async enroll(name: string, labels: string[]): Promise<{ agentId: string; credential: string }> {
    const agentId = `${name}-${randomId(6)}`;
    const credential = `${CREDENTIAL_PREFIX}${randomId(32)}`;
    this.sql.exec(
      "INSERT INTO agents (agent_id, name, labels, credential_hash, enrolled_at) VALUES (?, ?, ?, ?, ?)",
      agentId,
      name,
      JSON.stringify(labels),
      await sha256Hex(credential),
      Date.now(),
    );
    return { agentId, credential };
  }

  /** Who a credential belongs to: an enrolled agent (possibly revoked), or null. */
  authenticate(credentialHash: string): { agentId: string; revoked: boolean } | null {
    let entry = this.cache.get(credentialHash);
    if (!entry) {
      const row = this.sql
        .exec<{ agent_id: string; revoked_at: number | null; queues: string }>(
          "SELECT agent_id, revoked_at, queues FROM agents WHERE credential_hash = ?",
          credentialHash,
        )
        .toArray()[0];
      if (!row) return null;
      entry = { agentId: row.agent_id, revoked: row.revoked_at !== null, seenWritten: 0, queues: new Set(JSON.parse(row.queues) as string[]) };
      this.cache.set(credentialHash, entry);
    }
    const now = Date.now();
    if (!entry.revoked && now - entry.seenWritten > SEEN_WRITE_MS) {
      entry.seenWritten = now;
      this.sql.exec("UPDATE agents SET last_seen_at = ? WHERE agent_id = ?", now, entry.agentId);
    }
    return { agentId: entry.agentId, revoked: entry.revoked };
  }

  /** Remembers a queue an agent polls, so revoking it knows where its leases are. */
  noteQueue(agentId: string, queue: string): void {
    const row = this.sql.exec<{ queues: string }>("SELECT queues FROM agents WHERE agent_id = ?", agentId).toArray()[0];
    if (!row) return;
    const queues = new Set(JSON.parse(row.queues) as string[]);
    if (queues.has(queue)) return;
    queues.add(queue);
    this.sql.exec("UPDATE agents SET queues = ? WHERE agent_id = ?", JSON.stringify([...queues]), agentId);
    for (const entry of this.cache.values()) if (entry.agentId === agentId) entry.queues.add(queue);
  }

  list(): AgentView[] {
    return this.sql
      .exec<AgentRow>("SELECT agent_id, name, labels, enrolled_at, last_seen_at, revoked_at, queues FROM agents ORDER BY enrolled_at DESC LIMIT 1000")
      .toArray()
      .map((r) => ({
        agentId: r.agent_id,
        name: r.name,
        labels: JSON.parse(r.labels) as string[],
        enrolledAt: r.enrolled_at,
        lastSeenAt: r.last_seen_at,
        revokedAt: r.revoked_at,
        queues: JSON.parse(r.queues) as string[],
      }));
  }

  /** Agents not revoked and seen within `withinMs` (last_seen_at is written every ~30 s while an agent is active). */
  onlineCount(withinMs: number): number {
    return this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM agents WHERE revoked_at IS NULL AND last_seen_at > ?", Date.now() - withinMs)
      .one().n;
  }

  /** Every queue some agent has polled. */
  knownQueues(): string[] {
    const queues = new Set<string>();
    for (const row of this.sql.exec<{ queues: string }>("SELECT queues FROM agents")) for (const q of JSON.parse(row.queues) as string[]) queues.add(q);
    return [...queues];
  }

  /** Revokes an agent; returns the queues it used (so their leases can be released), or null if unknown. */
  revoke(agentId: string): string[] | null {
    const row = this.sql.exec<{ queues: string }>("SELECT queues FROM agents WHERE agent_id = ?", agentId).toArray()[0];
    if (!row) return null;
    this.sql.exec("UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE agent_id = ?", Date.now(), agentId);
    for (const entry of this.cache.values()) if (entry.agentId === agentId) entry.revoked = true;
    const queues = new Set(JSON.parse(row.queues) as string[]);
    for (const entry of this.cache.values()) if (entry.agentId === agentId) for (const q of entry.queues) queues.add(q);
    return [...queues];
  }
}

export function agentRegistry(env: Env): DurableObjectStub<AgentRegistry> {
  return env.AGENTS.get(env.AGENTS.idFromName("agents"));
}
