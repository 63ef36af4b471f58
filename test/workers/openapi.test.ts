import { describe, expect, it } from "vitest";
import { app } from "../../src/index.js";
import { SubmitJobsBody } from "../../src/protocol/index.js";
import { call } from "./helpers.js";

describe("OpenAPI", () => {
  it("documents exactly the routes the app serves", async () => {
    const doc = (await call("GET", "/v1/openapi.json", { token: null })).body;
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = [...new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`))]
      .filter((r) => !r.includes("/v1/debug/"))
      .sort();
    expect(documented).toEqual(served);
  });

  it("takes request schemas from the validating zod schemas", async () => {
    const doc = (await call("GET", "/v1/openapi.json", { token: null })).body;
    const schema = doc.paths["/v1/jobs"].post.requestBody.content["application/json"].schema;
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(SubmitJobsBody.shape).sort());
    // The document says what validation does: no properties beyond these.
    expect(schema.additionalProperties).toBe(false);
    const refused = await call("POST", "/v1/jobs", { body: { fn: "(x)=>x", undocumented: 1 } });
    expect(refused.status).toBe(400);
    const poll = doc.paths["/v1/agent/poll"].post.requestBody.content["application/json"].schema;
    expect(poll.required).toEqual(["slots"]);
    expect(poll.properties.wait).toMatchObject({ maximum: 25 });
    const results = doc.paths["/v1/batches/{id}/results"].get.parameters.map((p: any) => p.name);
    expect(results).toEqual(["id", "after", "wait", "limit"]);
  });
});
