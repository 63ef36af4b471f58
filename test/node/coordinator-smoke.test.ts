import { afterAll, beforeAll, expect, it } from "vitest";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";
import { submitter } from "../helpers/client.js";

let coord: Coordinator;
beforeAll(async () => {
  coord = await startCoordinator();
});
afterAll(() => coord?.stop());

it("the bundled coordinator runs under Miniflare on loopback and serves its public key", async () => {
  expect(coord.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const keys = await (await fetch(`${coord.url}/v1/keys`)).json();
  expect(keys.keys[0].x).toBe(coord.publicKey);
  const api = submitter(coord.url, coord.submitToken);
  const sub = await api.call("POST", "/v1/jobs", { fn: "(x) => x + 1", inputs: [1, 2] });
  expect(sub.status).toBe(201);
  expect((await api.call("GET", `/v1/batches/${sub.body.batchId}`)).body.counts.queued).toBe(2);
});
