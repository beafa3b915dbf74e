// Not a test of its own: the kill-cycle test runs it under `bun test
// --timeout`, `deno test` and `node --test --test-timeout`, where its one
// test starts an environment and never finishes, so the runner's timeout
// handling (Bun kills "dangling processes") meets a live environment.
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

const hang = async () => {
  const env = await startEnvironment({ services: { idle: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 600" } } });
  console.log(`READY ${env.id}`);
  await new Promise(() => {});
};

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const timeoutMs = Number(process.env.K3SBOX_FIXTURE_TIMEOUT_MS ?? 3000);
if (g.Bun) {
  const bunTest = "bun:test"; // indirect: Deno and Node never resolve it
  (await import(bunTest)).test("hangs until the runner's timeout", hang); // the timeout is bun's --timeout
} else if (g.Deno) {
  // deno test has no timeout of its own: a test's own deadline, as tests/harness.ts gives it.
  g.Deno.test({
    name: "hangs until its deadline",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => Promise.race([hang(), new Promise((_, reject) => setTimeout(() => reject(new Error("deadline")), timeoutMs))]),
  });
} else {
  (await import("node:test")).test("hangs until the runner's timeout", hang); // --test-timeout
}
