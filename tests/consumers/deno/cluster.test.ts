// A Deno project's test, written as the README's Deno section says. Run three
// times by tests/consumers/run.sh: "k3sbox" from the npm package, and mapped
// to mod.ts by local path and by http: URL.
import assert from "node:assert/strict"; // @std/assert is on JSR, which these machines cannot reach
import { startEnvironment } from "k3sbox";
import { k3sOnTestImage, watchdogCommand } from "./cluster.ts";

Deno.test({
  name: `deno consumer (${Deno.env.get("CONSUMER_VIA")}): lists the node of a k3s() cluster (on the test image)`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using env = await startEnvironment({ services: { k8s: k3sOnTestImage() } });
    const nodes = await env.svc.k8s.client.core.listNode();
    assert.equal(nodes.items.length, 1);
    assert.equal(typeof nodes.items[0]?.metadata?.name, "string");
    assert.match(env.timeline(), /^list nodes 200 \d+ms$/m);
    // The watchdog runs the entry next to the module Deno loaded: the compiled
    // .js from the npm package, the .ts from a path or URL import.
    assert.match(watchdogCommand() ?? "none", /\/lib\/runner\/reaper-main\.(js|ts) --reap /);
  },
});
