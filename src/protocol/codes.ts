// Stable codes both sides use: why an agent refused a task, and why a task
// failed on the agent's side rather than in the submitted code.

/** Why an agent refused a task without running it (reported as `rejected`). */
export const REJECTION_CODES = [
  "signature_rejected",
  "wrong_agent",
  "envelope_expired",
  "lease_replayed",
  "fn_hash_mismatch",
  "malformed_envelope",
  "function_unavailable",
  "session_mismatch",
  "submitter_untrusted",
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** `error.code` of a task that the agent stopped or could not finish. */
export const TASK_ERROR_CODES = [
  "timeout",
  "cancelled",
  "memory_limit",
  "sandbox_crashed",
  "not_serializable",
  "result_too_large",
  "result_too_deep",
  "agent_shutdown",
] as const;
export type TaskErrorCode = (typeof TASK_ERROR_CODES)[number];
