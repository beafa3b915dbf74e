// Admission webhook latency from the test process (webhooks()), side by side
// with the same request that no webhook sees, on one cluster (the node
// image's real API server), alternating rounds:
//
//   with webhook      dry-run create of a ConfigMap in a namespace a validating
//                     webhook served by this process matches (API server →
//                     host.k3sbox.internal → this process → back)
//   raw               the same dry-run create in a namespace no webhook matches
//   handler           the time the API server's call spent in this process
//                     (the timeline's duration of the webhook event)
//
// Prints medians and the overhead a webhook adds per request.
//
//   export $(grep K3SBOX_ /tmp/setup.out | xargs)
//   bun bench/webhooks.ts [rounds]    deno run -A bench/webhooks.ts    node bench/webhooks.ts (type stripping)

import { k3s } from "../lib/k3s/k3s.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";

const ROUNDS = Number(process.argv[2] ?? 50);
const IMAGE = process.env.K3SBOX_TESTBED_IMAGE;
if (!IMAGE) throw new Error("K3SBOX_TESTBED_IMAGE is not set (export $(grep K3SBOX_ /tmp/setup.out | xargs))");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const env = await startEnvironment({ services: { k8s: { ...k3s({ registry: false }), image: { type: "registry", reference: IMAGE } } } });
try {
  const k8s = env.svc.k8s;
  const hooked = await k8s.namespace("hooked");
  const plain = await k8s.namespace("plain");
  await using hooks = await k8s.webhooks({
    validating: [{
      name: "bench.webhooks.k3sbox.test",
      rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": hooked.name } },
      handler: () => ({ allowed: true }),
    }],
  });
  const create = (namespace: string, i: number) =>
    k8s.client.core.createNamespacedConfigMap({ namespace, dryRun: "All", body: { metadata: { name: `bench-${i}` }, data: { i: String(i) } } });
  // Warm both paths (connections, discovery, the webhook client's TLS session).
  for (let i = 0; i < 5; i++) await Promise.all([create(hooked.name, i), create(plain.name, i)].map((p) => p));
  const withHook: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [ns, into] of (i % 2 ? [[plain.name, raw], [hooked.name, withHook]] : [[hooked.name, withHook], [plain.name, raw]]) as [string, number[]][]) {
      const t0 = performance.now();
      await create(ns, i);
      into.push(performance.now() - t0);
    }
  }
  const handler = env.events().filter((e) => e.kind === "webhook" && e.webhook?.webhook === "bench.webhooks.k3sbox.test").map((e) => e.durationMs ?? 0);
  const m = { withHook: median(withHook), raw: median(raw), handler: median(handler) };
  console.log(`runtime ${runtime}, ${ROUNDS} rounds, webhook at ${hooks.url} (calls: ${hooks.calls("bench.webhooks.k3sbox.test")})`);
  console.log(`dry-run create, with a test-process webhook  ${m.withHook.toFixed(1)} ms (median)`);
  console.log(`dry-run create, no webhook (raw)             ${m.raw.toFixed(1)} ms`);
  console.log(`webhook overhead per request                 ${(m.withHook - m.raw).toFixed(1)} ms (ratio ${(m.withHook / m.raw).toFixed(2)})`);
  console.log(`time in this process per call (timeline)     ${m.handler.toFixed(2)} ms`);
} finally {
  await env.stop();
}
