// Function sources, stored once by sha256 and shared by every queue. Jobs
// carry only the hash; agents fetch a source once and check it against the
// hash the coordinator signed.

import { DurableObject } from "cloudflare:workers";
import { sha256Hex } from "../protocol/index.js";
import type { Env } from "../env.js";
import { FUNCTION_SCHEMA, migrate } from "./schema.js";

export class FunctionRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, FUNCTION_SCHEMA);
  }

  /** Stores a source (if new) and returns its hash. */
  async put(source: string): Promise<string> {
    const hash = await sha256Hex(source);
    this.sql.exec(
      "INSERT INTO functions (hash, source, created_at) VALUES (?, ?, ?) ON CONFLICT(hash) DO NOTHING",
      hash,
      source,
      Date.now(),
    );
    return hash;
  }

  has(hash: string): boolean {
    return this.sql.exec("SELECT 1 FROM functions WHERE hash = ?", hash).toArray().length > 0;
  }

  get(hash: string): string | null {
    const row = this.sql.exec<{ source: string }>("SELECT source FROM functions WHERE hash = ?", hash).toArray()[0];
    return row ? row.source : null;
  }
}

export function functionRegistry(env: Env): DurableObjectStub<FunctionRegistry> {
  return env.FUNCTIONS.get(env.FUNCTIONS.idFromName("functions"));
}
