// The wire contract, shared by the coordinator and the agent.
export * from "./encoding.js";
export * from "./ids.js";
export * from "./limits.js";
export * from "./json-depth.js";
export * from "./codes.js";
export * from "./schemas.js";
export * from "./types.js";
export * from "./keys.js";
export * from "./envelope.js";
export * from "./submitter-signature.js";
