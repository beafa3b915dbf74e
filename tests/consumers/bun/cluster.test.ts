// A `bun init` project's test, written as the README's Bun section says.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Environment, startEnvironment } from "k3sbox";
import { k3sOnTestImage, watchdogCommand } from "./cluster.ts";

const services = { k8s: k3sOnTestImage() };
let env: Environment<typeof services>;

// A cluster takes longer to boot than bun test's default 5 s per hook.
beforeAll(async () => {
  env = await startEnvironment({ services });
}, 180_000);
afterAll(() => env?.stop(), 60_000);

test("bun consumer: lists the node of a k3s() cluster (on the test image)", async () => {
  const nodes = await env.svc.k8s.client.core.listNode();
  expect(nodes.items).toHaveLength(1);
  expect(nodes.items[0]?.metadata?.name).toBeString();
  expect(env.timeline()).toMatch(/^list nodes 200 \d+ms$/m);
});

test("bun consumer: the crash watchdog runs, from the package's compiled entry", () => {
  expect(watchdogCommand()).toMatch(/node_modules\/k3sbox\/dist\/lib\/runner\/reaper-main\.js --reap /);
});
