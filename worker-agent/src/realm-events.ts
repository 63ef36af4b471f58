// Code that runs INSIDE a task's vm context (see sandbox-realm.ts): the
// installer's source text is evaluated there, so every object it makes
// belongs to the task's realm and leads nowhere outside it. It must be
// self-contained — no imports, no references to this module's scope — and
// may use only the JavaScript built-ins every context has.
//
// This one installs DOMException, Event, EventTarget, AbortController and
// AbortSignal (with abort/timeout/any). `hooks` is shared with the other
// installers: `stray` reports an error a listener threw, `setTimeout` is the
// realm's own timer (installed later by realm-runtime.ts).

export interface RealmHooks {
  stray: (err: unknown) => void;
  setTimeout: (fn: () => void, ms: number) => unknown;
  /** Adds globals the way the platform does: writable, configurable, not enumerable. */
  define: (values: Record<string, unknown>) => void;
}

export function installEvents(hooks: RealmHooks): void {
  const CODES: Record<string, number> = {
    IndexSizeError: 1, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12,
    InvalidCharacterError: 5, NetworkError: 19, AbortError: 20, QuotaExceededError: 22, TimeoutError: 23, DataCloneError: 25,
  };

  class DOMException extends Error {
    constructor(message: unknown = "", name: unknown = "Error") {
      super(String(message));
      Object.defineProperty(this, "name", { value: String(name), writable: true, configurable: true });
    }
    get code(): number {
      return CODES[this.name] ?? 0;
    }
  }

  let setTarget: (event: Event, target: unknown) => void = () => {};
  let stopped: (event: Event) => boolean = () => false;

  class Event {
    #type: string;
    #cancelable: boolean;
    #bubbles: boolean;
    #prevented = false;
    #stop = false;
    #target: unknown = null;
    #timeStamp = Date.now();
    static {
      setTarget = (event, target) => { event.#target = target; };
      stopped = (event) => event.#stop;
    }
    constructor(type: unknown, init?: { cancelable?: unknown; bubbles?: unknown }) {
      if (type === undefined) throw new TypeError("Event needs a type");
      this.#type = String(type);
      this.#cancelable = !!init?.cancelable;
      this.#bubbles = !!init?.bubbles;
    }
    get type(): string { return this.#type; }
    get target(): unknown { return this.#target; }
    get currentTarget(): unknown { return this.#target; }
    get srcElement(): unknown { return this.#target; }
    get cancelable(): boolean { return this.#cancelable; }
    get bubbles(): boolean { return this.#bubbles; }
    get composed(): boolean { return false; }
    get defaultPrevented(): boolean { return this.#prevented; }
    get timeStamp(): number { return this.#timeStamp; }
    get eventPhase(): number { return this.#target === null ? 0 : 2; }
    get isTrusted(): boolean { return false; }
    preventDefault(): void { if (this.#cancelable) this.#prevented = true; }
    stopPropagation(): void {}
    stopImmediatePropagation(): void { this.#stop = true; }
    composedPath(): unknown[] { return this.#target === null ? [] : [this.#target]; }
  }

  type Listener = { fn: unknown; capture: boolean; once: boolean; removed: boolean };

  class EventTarget {
    #listeners = new Map<string, Listener[]>();

    addEventListener(type: unknown, fn: unknown, options?: unknown): void {
      if (fn === null || fn === undefined) return;
      const opts = typeof options === "object" && options !== null ? (options as { capture?: unknown; once?: unknown; signal?: any }) : {};
      const capture = typeof options === "boolean" ? options : !!opts.capture;
      const signal = opts.signal;
      if (signal?.aborted) return;
      const key = String(type);
      const list = this.#listeners.get(key) ?? [];
      if (list.some((l) => l.fn === fn && l.capture === capture)) return;
      list.push({ fn, capture, once: !!opts.once, removed: false });
      this.#listeners.set(key, list);
      if (signal) signal.addEventListener("abort", () => this.removeEventListener(key, fn, { capture }), { once: true });
    }

    removeEventListener(type: unknown, fn: unknown, options?: unknown): void {
      const capture = typeof options === "boolean" ? options : !!(options as { capture?: unknown } | undefined)?.capture;
      const key = String(type);
      const list = this.#listeners.get(key);
      if (!list) return;
      const i = list.findIndex((l) => l.fn === fn && l.capture === capture);
      if (i < 0) return;
      list[i]!.removed = true;
      list.splice(i, 1);
    }

    dispatchEvent(event: unknown): boolean {
      if (!(event instanceof Event)) throw new TypeError("dispatchEvent needs an Event");
      setTarget(event, this);
      const call = (fn: unknown): void => {
        try {
          if (typeof fn === "function") fn.call(this, event);
          else if (fn !== null && typeof fn === "object" && typeof (fn as any).handleEvent === "function") (fn as any).handleEvent(event);
        } catch (err) {
          hooks.stray(err);
        }
      };
      const handler = (this as any)[`on${event.type}`];
      if (typeof handler === "function") call(handler);
      for (const l of [...(this.#listeners.get(event.type) ?? [])]) {
        if (l.removed) continue;
        if (l.once) this.removeEventListener(event.type, l.fn, { capture: l.capture });
        call(l.fn);
        if (stopped(event)) break;
      }
      return !event.defaultPrevented;
    }
  }

  const SIGNAL_KEY = Symbol("AbortSignal");
  let abortSignal: (signal: AbortSignal, reason: unknown) => void = () => {};
  const abortError = (): DOMException => new DOMException("This operation was aborted", "AbortError");

  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason: unknown = undefined;
    onabort: unknown = null;
    static {
      abortSignal = (signal, reason) => {
        if (signal.#aborted) return;
        signal.#aborted = true;
        signal.#reason = reason === undefined ? abortError() : reason;
        signal.dispatchEvent(new Event("abort"));
      };
    }
    constructor(key?: unknown) {
      super();
      if (key !== SIGNAL_KEY) throw new TypeError("Illegal constructor");
    }
    get aborted(): boolean { return this.#aborted; }
    get reason(): unknown { return this.#reason; }
    throwIfAborted(): void {
      if (this.#aborted) throw this.#reason;
    }
    static abort(reason?: unknown): AbortSignal {
      const signal = new AbortSignal(SIGNAL_KEY);
      abortSignal(signal, reason);
      return signal;
    }
    static timeout(ms: unknown): AbortSignal {
      const signal = new AbortSignal(SIGNAL_KEY);
      hooks.setTimeout(() => abortSignal(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError")), Number(ms));
      return signal;
    }
    static any(signals: Iterable<AbortSignal>): AbortSignal {
      const signal = new AbortSignal(SIGNAL_KEY);
      const list = [...signals];
      const done = list.find((s) => s.aborted);
      if (done) abortSignal(signal, done.reason);
      else for (const s of list) s.addEventListener("abort", () => abortSignal(signal, s.reason), { once: true });
      return signal;
    }
  }

  class AbortController {
    #signal = new AbortSignal(SIGNAL_KEY);
    get signal(): AbortSignal { return this.#signal; }
    abort(reason?: unknown): void {
      abortSignal(this.#signal, reason);
    }
  }

  hooks.define({ DOMException, Event, EventTarget, AbortSignal, AbortController });
}
