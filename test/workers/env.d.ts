// The bindings the tests see: the coordinator's Env plus the test key.
import type { Env as CoordinatorEnv } from "../../src/env.js";

declare global {
  namespace Cloudflare {
    interface Env extends CoordinatorEnv {
      TEST_PUBLIC_X: string;
      TEST_NEXT_PUBLIC_X: string;
    }
  }
}
