// One test vocabulary for `bun test`, `deno test` and `node --test`.
//
// Each tier's files import `test`, `suite` and `skip` from here instead of
// `bun:test`, `Deno.test` or `node:test`, so the same file runs under all three.
// Assertions use `node:assert/strict`, which both runtimes provide.

type Body = () => unknown | Promise<unknown>;
interface Options {
  /** Per-test deadline; the test fails with a clear message past it. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const isBun = typeof g.Bun !== "undefined";
const isDeno = typeof g.Deno !== "undefined";

// Loaded only under Bun; the specifier is indirect so Deno never resolves it.
const bunTestModule = "bun:test";
const nodeTestModule = "node:test";

/** bun:test and node:test share a shape: describe, before/after hooks, tests with a timeout. */
interface HookRunner {
  describe(name: string, body: () => void): void;
  beforeAll(fn: () => Promise<void>, timeoutMs: number): void;
  afterAll(fn: () => Promise<void>, timeoutMs: number): void;
  test(name: string, fn: () => unknown, timeoutMs: number): void;
  skip(name: string): void;
}

async function hookRunner(): Promise<HookRunner | undefined> {
  if (isBun) {
    const b = await import(bunTestModule);
    return {
      describe: b.describe,
      beforeAll: b.beforeAll,
      afterAll: b.afterAll,
      test: b.test,
      skip: (name) => b.test.skip(name, () => {}),
    };
  }
  if (isDeno) return undefined;
  const n = await import(nodeTestModule);
  return {
    describe: (name, body) => void n.describe(name, body),
    beforeAll: (fn, timeout) => void n.before(fn, { timeout }),
    afterAll: (fn, timeout) => void n.after(fn, { timeout }),
    test: (name, fn, timeout) => void n.test(name, { timeout }, fn),
    skip: (name) => void n.test(name, { skip: true }, () => {}),
  };
}
const hooks = await hookRunner();

/** Runs `body`, failing with the test's name if it outlives `timeoutMs`. */
async function withDeadline(name: string, body: Body, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`test "${name}" did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([Promise.resolve().then(body), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A single test case. */
export function test(name: string, body: Body, opts: Options = {}): void {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (hooks) {
    // the runner's own timeout is the backstop; ours gives the clearer message.
    hooks.test(name, () => withDeadline(name, body, timeoutMs), timeoutMs + 1_000);
  } else {
    g.Deno.test({
      name,
      fn: () => withDeadline(name, body, timeoutMs),
      sanitizeOps: false,
      sanitizeResources: false,
    });
  }
}

/**
 * Registers a test that cannot run here, printing why. Never silent: the
 * reason goes to stderr when the file loads and into the runner's skip list.
 */
export function skip(name: string, reason: string): void {
  console.error(`SKIP ${name}: ${reason}`);
  if (hooks) hooks.skip(`${name} (skipped: ${reason})`);
  else g.Deno.test({ name: `${name} (skipped: ${reason})`, ignore: true, fn: () => {} });
}

/** A test case that receives the suite's fixture. */
export type SuiteCase<F> = (name: string, body: (fixture: F) => unknown | Promise<unknown>, opts?: Options) => void;

/**
 * A group of tests sharing one expensive fixture (a control plane, a Docker
 * environment). `setup` runs once before the first case and `teardown` once
 * after the last, even when cases fail.
 */
export function suite<F>(
  name: string,
  fixture: {
    setup: () => Promise<F>;
    teardown: (fixture: F) => Promise<void>;
    setupTimeoutMs?: number;
  },
  define: (testCase: SuiteCase<F>) => void,
): void {
  const setupTimeoutMs = fixture.setupTimeoutMs ?? 120_000;
  const cases: { name: string; body: (f: F) => unknown; timeoutMs: number }[] = [];
  define((caseName, body, opts = {}) => {
    cases.push({ name: caseName, body, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  });

  if (hooks) {
    hooks.describe(name, () => {
      let value: F | undefined;
      let failure: unknown;
      hooks.beforeAll(async () => {
        try {
          await withDeadline(`${name} (setup)`, async () => { value = await fixture.setup(); }, setupTimeoutMs);
        } catch (err) {
          failure = err;
        }
      }, setupTimeoutMs + 1_000);
      hooks.afterAll(async () => {
        if (value !== undefined) await fixture.teardown(value);
      }, 60_000);
      for (const c of cases) {
        hooks.test(c.name, () => {
          if (failure) throw failure;
          return withDeadline(c.name, () => c.body(value as F), c.timeoutMs);
        }, c.timeoutMs + 1_000);
      }
    });
    return;
  }
  g.Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    // deno-lint-ignore no-explicit-any
    fn: async (t: any) => {
      let value: F | undefined;
      await withDeadline(`${name} (setup)`, async () => { value = await fixture.setup(); }, setupTimeoutMs);
      try {
        for (const c of cases) {
          await t.step({
            name: c.name,
            sanitizeOps: false,
            sanitizeResources: false,
            fn: () => withDeadline(c.name, () => c.body(value as F), c.timeoutMs),
          });
        }
      } finally {
        await fixture.teardown(value as F);
      }
    },
  });
}
