// Numeric options checked the same way everywhere: finite, positive, and no
// longer than a timer can hold. setTimeout keeps delays in a signed 32-bit
// integer; anything above 2^31-1 ms (~24.8 days) fires at once (Node, Bun:
// after 1 ms), so a too-large timeout would end a wait immediately or never.

/** The longest delay setTimeout holds: 2^31-1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A value as an error message shows it: NaN and Infinity by name (JSON would say null), strings quoted. */
export function describeValue(v: unknown): string {
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return v.toString();
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v); // circular
  }
}

/** Checks a timeout in milliseconds; `what` names the option in the error ("waitFor(): option \"timeoutMs\""). */
export function checkTimeoutMs(value: unknown, what: string, example = 60_000): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new TypeError(
      `${what} must be a positive, finite number of milliseconds no larger than ${MAX_TIMER_MS} (what setTimeout can hold), such as ${example}; got ${describeValue(value)}`,
    );
  }
  return value;
}

/** Checks a timeout in seconds (same limit, in seconds: 2147483 s). */
export function checkTimeoutSecs(value: unknown, what: string, example = 120): number {
  const max = Math.floor(MAX_TIMER_MS / 1000);
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new TypeError(
      `${what} must be a positive, finite number of seconds no larger than ${max} (what setTimeout can hold), such as ${example}; got ${describeValue(value)}`,
    );
  }
  return value;
}

/** Checks a count: a non-negative (or positive) safe integer. */
export function checkCount(value: unknown, what: string, opts: { min?: number; max?: number } = {}): number {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`${what} must be an integer from ${min} to ${max}; got ${describeValue(value)}`);
  }
  return value;
}
