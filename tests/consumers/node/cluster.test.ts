// A Node project's test (node --test runs it with Node's type stripping),
// written as the README's Node section says.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Environment, startEnvironment } from "k3sbox";
import { k3sOnTestImage, watchdogCommand } from "./cluster.ts";

const services = { k8s: k3sOnTestImage() };
let env: Environment<typeof services> | undefined;

before(async () => {
  env = await startEnvironment({ services });
}, { timeout: 180_000 });
after(() => env?.stop());

test("node consumer: lists the node of a k3s() cluster (on the test image)", async () => {
  assert.ok(env);
  const nodes = await env.svc.k8s.client.core.listNode();
  assert.equal(nodes.items.length, 1);
  assert.equal(typeof nodes.items[0]?.metadata?.name, "string");
  assert.match(env.timeline(), /^list nodes 200 \d+ms$/m);
});

test("node consumer: the crash watchdog runs, from the package's compiled entry", () => {
  assert.match(watchdogCommand() ?? "none", /node_modules\/k3sbox\/dist\/lib\/runner\/reaper-main\.js --reap /);
});
