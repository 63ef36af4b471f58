import { describe, expect, it } from "vitest";
import { env } from "cloudflare:test";
import { generateSigningKey, importSigningKey, sha256Hex, signJob } from "../../src/protocol/index.js";
import { call, poll, submit, tasksOf } from "./helpers.js";

const fn = "(x) => x.n * 2";

describe("signing keys rotate", () => {
  it("publishes every configured key and signs with the first", async () => {
    const keys = await call("GET", "/v1/keys", { token: null });
    expect(keys.body.keys.map((k: any) => k.x)).toEqual([env.TEST_PUBLIC_X, env.TEST_NEXT_PUBLIC_X]);
    await submit({ fn, input: { n: 1 }, queue: "rotate" });
    const got = await poll({ slots: 1, wait: 0, queue: "rotate" });
    expect(got.body.kid).toBe(keys.body.keys[0].kid);
  });
});

describe("sessions", () => {
  it("the envelope echoes the poll's session nonce, inside what is signed", async () => {
    await submit({ fn, input: { n: 1 }, queue: "session" });
    const got = await poll({ slots: 1, wait: 0, queue: "session", session: "s3ss10n-n0nce-0123456789" });
    expect(JSON.parse(got.body.payload).session).toBe("s3ss10n-n0nce-0123456789");
  });

  it("the envelope gives the delivery lease its tasks must be confirmed within, inside what is signed", async () => {
    await submit({ fn, input: { n: 1 }, queue: "session" });
    const got = await poll({ slots: 1, wait: 0, queue: "session" });
    expect(JSON.parse(got.body.payload).confirmWithinMs).toBe(1000); // DELIVERY_LEASE_MS in this test configuration
  });
});

describe("end-to-end submitter signatures", () => {
  async function submitterKey() {
    const { pkcs8Base64, jwk } = await generateSigningKey();
    return { key: (await importSigningKey(pkcs8Base64)).privateKey, x: jwk.x };
  }

  it("a signed batch is accepted and each task carries its signer and signature", async () => {
    const { key, x } = await submitterKey();
    const fnHash = await sha256Hex(fn);
    const inputs = [{ n: 1 }, { n: 2 }];
    const signatures = await Promise.all(inputs.map((input) => signJob(key, fnHash, input)));
    const sub = await submit({ fn, inputs, signer: x, signatures, queue: "signed" });
    expect(sub.status).toBe(201);
    const tasks = tasksOf((await poll({ slots: 2, wait: 0, queue: "signed" })).body) as any[];
    expect(tasks.map((t) => [t.signer, t.sig])).toEqual([[x, signatures[0]], [x, signatures[1]]]);
  });

  it("a signature that does not match its input is refused at submit with bad_signature", async () => {
    const { key, x } = await submitterKey();
    const fnHash = await sha256Hex(fn);
    const sig = await signJob(key, fnHash, { n: 1 });
    const res = await submit({ fn, input: { n: 2 }, signer: x, signatures: [sig], queue: "signed-bad" });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_signature");
    const otherFn = await submit({ fn: "(x) => x", input: { n: 1 }, signer: x, signatures: [sig], queue: "signed-bad" });
    expect(otherFn.body.error.code).toBe("bad_signature");
    expect((await poll({ slots: 5, wait: 0, queue: "signed-bad" })).status).toBe(204);
  });
});
