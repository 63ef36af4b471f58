// Durable Object RPC loses error classes, so queue methods return a tagged
// value: the value, or a caller mistake with its HTTP status and stable code.

export interface Failure {
  ok: false;
  status: 400 | 404 | 409 | 413;
  code: string;
  message: string;
}
export type Outcome<T> = { ok: true; value: T } | Failure;

export const success = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const failure = (status: Failure["status"], code: string, message: string): Failure => ({
  ok: false,
  status,
  code,
  message,
});
