// Deadlines for API requests. Every request has its own timeout
// (KUBE_REQUEST_TIMEOUT_MS) and also ends when the signal of the operation it
// belongs to aborts: a wait's deadline, the caller's `signal`, the
// environment stopping. client-node's generated methods take no signal, so
// the operation's signal travels in an async slot (like callSlots) to the
// HTTP layer, which combines it with the request's own timeout.

import { AsyncLocalStorage } from "node:async_hooks";

/** Longest any one API request may take; waits and callers can make it shorter. */
export const KUBE_REQUEST_TIMEOUT_MS = 30_000;

const scope = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` so that every API request it makes also ends when `signal` aborts (nested scopes combine). */
export function withRequestSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  if (!signal) return fn();
  const outer = scope.getStore();
  return scope.run(outer ? AbortSignal.any([outer, signal]) : signal, fn);
}

/** The signal of the operation the current request belongs to, if any. */
export function currentRequestSignal(): AbortSignal | undefined {
  return scope.getStore();
}

/**
 * `p`, or a rejection with the signal's reason as soon as it aborts: for
 * awaits that might not honour the signal themselves (a transport that keeps
 * waiting on a frozen peer).
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/** An AbortSignal that aborts at `deadline` (epoch ms) with a TimeoutError naming `what`. */
export function deadlineSignal(deadline: number, what: string): { signal: AbortSignal; clear(): void } {
  const ctl = new AbortController();
  const ms = Math.max(0, deadline - Date.now());
  const timer = setTimeout(() => ctl.abort(new DeadlineError(what, ms)), ms);
  return { signal: ctl.signal, clear: () => clearTimeout(timer) };
}

/** The deadline of an operation passed while it was waiting on the API server. */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: deadline reached (${ms} ms)`);
    this.name = "DeadlineError";
  }
}
