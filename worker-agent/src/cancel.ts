// How a held task is cancelled: the part of AbortSignal the agent's task path
// uses (aborted, reason, "abort" listeners), kept by a plain object. An
// AbortController per task, with a listener added and removed by each run,
// was about an eighth of the agent's JavaScript time per task (bench: agent
// CPU profile). A real AbortSignal still fits where a
// CancelSignal is asked for (tests, bench/sandbox.mjs).

export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** A one-shot cancellation: listeners run once, on the first abort(); added after it, never. */
export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | null = null;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = null;
    for (const listener of listeners ?? []) listener();
  }

  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.aborted) (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at !== -1) this.listeners!.splice(at, 1);
  }
}
