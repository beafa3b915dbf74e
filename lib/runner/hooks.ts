// User hooks (helpers, setup, peers, dispose) run under a deadline and a
// signal: a hook that never settles fails the start (or, for dispose, is
// abandoned) at its deadline instead of hanging it, and a hook that throws
// synchronously is a rejection like any other, never an escape from teardown.

import { checkTimeoutSecs } from "../limits.ts";

/** Deadline of helpers, setup and peers unless the definition sets `hookTimeoutSecs`. */
export const DEFAULT_HOOK_TIMEOUT_SECS = 300;
/** Deadline of a dispose hook: teardown goes on without it after this. */
export const DISPOSE_TIMEOUT_MS = 30_000;

export class HookTimeoutError extends Error {
  constructor(readonly service: string, readonly hook: string, readonly timeoutMs: number) {
    super(
      `service "${service}": its ${hook} hook did not settle within ${timeoutMs / 1000} s` +
        (hook === "dispose" ? " (teardown went on without it)" : " (raise the definition's hookTimeoutSecs if it needs longer)"),
    );
    this.name = "HookTimeoutError";
  }
}

/** The hook deadline of a definition, in ms (its `hookTimeoutSecs`, checked, else the default). */
export function hookTimeoutMs(service: string, def: { hookTimeoutSecs?: unknown }): number {
  if (def.hookTimeoutSecs === undefined) return DEFAULT_HOOK_TIMEOUT_SECS * 1000;
  return checkTimeoutSecs(def.hookTimeoutSecs, `startEnvironment: services.${service}.hookTimeoutSecs`, DEFAULT_HOOK_TIMEOUT_SECS) * 1000;
}

/**
 * Runs `fn(signal)`: rejects with a HookTimeoutError at the deadline, or with
 * `parent`'s reason when it aborts, whether or not the hook listens to the
 * signal it is given (which aborts then too).
 */
export async function runHook<T>(
  service: string,
  hook: string,
  timeoutMs: number,
  parent: AbortSignal | undefined,
  fn: (signal: AbortSignal) => T | Promise<T>,
): Promise<T> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new HookTimeoutError(service, hook, timeoutMs)), timeoutMs);
  const onParent = () => ctl.abort(parent!.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener("abort", onParent, { once: true });
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(ctl.signal.reason);
    if (ctl.signal.aborted) onAbort();
    else ctl.signal.addEventListener("abort", onAbort, { once: true });
  });
  const run = Promise.resolve().then(() => fn(ctl.signal)); // a synchronous throw becomes a rejection
  run.catch(() => {}); // abandoned at the deadline: its late failure is nobody's business
  try {
    return await Promise.race([run, aborted]);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener("abort", onParent);
    ctl.signal.removeEventListener("abort", onAbort);
  }
}
