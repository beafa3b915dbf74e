// Not a test of its own: tests/docker/after-each.test.ts runs it under
// `bun test` and `deno test`. It is the README's afterEach pattern, on a
// cheap busybox environment: one passing and one failing test; the hook
// prints env.diagnostics() only after the failing one.
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

type Env = Environment<{ idle: ServiceDefinition }>;
let env: Env | undefined;
let passed = false;

const start = async () => {
  env = await startEnvironment({
    services: { idle: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "echo idle-service-started; exec sleep 600" } },
  });
};
const stop = () => env?.stop();
const before = () => {
  passed = false;
};
const after = async () => {
  if (!passed) console.error(`DIAGNOSTICS BEGIN\n${await env!.diagnostics()}\nDIAGNOSTICS END`);
};
const passes = () => {
  if (!env?.services.idle.containerId) throw new Error("no environment");
  passed = true; // the last line: only a test that got here passed
};
const fails = () => {
  throw new Error("intended failure");
};

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
if (g.Bun) {
  const bunTest = "bun:test"; // indirect: Deno never resolves it
  const { afterAll, afterEach, beforeAll, beforeEach, test } = await import(bunTest);
  beforeAll(start, 60_000);
  afterAll(stop);
  beforeEach(before);
  afterEach(after);
  test("passes", passes);
  test("fails", fails);
} else {
  g.Deno.test.beforeAll(start);
  g.Deno.test.afterAll(stop);
  g.Deno.test.beforeEach(before);
  g.Deno.test.afterEach(after);
  g.Deno.test({ name: "passes", fn: passes, sanitizeOps: false, sanitizeResources: false });
  g.Deno.test({ name: "fails", fn: fails, sanitizeOps: false, sanitizeResources: false });
}
