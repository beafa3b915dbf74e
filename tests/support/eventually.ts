// Polling for tests: the condition a test waits for, with a deadline that
// ends the wait with what was seen last.

/** Polls `fn` every `intervalMs` until it returns a value; at the deadline fails with the last error seen. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms (last: ${last instanceof Error ? last.message : last ?? "no value"})`);
}
