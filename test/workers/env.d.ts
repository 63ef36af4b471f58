// The bindings the tests see: the coordinator's Env plus the test key.
import type { Env } from "../../src/env.js";

declare global {
  namespace Cloudflare {
    interface Env extends import("../../src/env.js").Env {
      TEST_PUBLIC_X: string;
    }
  }
}
export type { Env };
