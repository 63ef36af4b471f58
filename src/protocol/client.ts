// The wire contract as the agent needs it: everything but the zod request
// schemas (the coordinator validates; the agent only builds requests), so the
// agent bundle does not carry zod.
export * from "./encoding.js";
export * from "./ids.js";
export * from "./limits.js";
export * from "./json-depth.js";
export * from "./codes.js";
export type * from "./schemas.js";
export * from "./types.js";
export * from "./keys.js";
export * from "./envelope.js";
export * from "./submitter-signature.js";
