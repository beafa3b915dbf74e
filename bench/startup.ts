// Start-up cost of k3s() and API call latency, on the k3s-compatible test image.
//
//   K3SBOX_TESTBED_IMAGE=k3sbox-testbed:latest bun bench/startup.ts [runs] [calls]
//
// 1. Time to ready and time in setup per start, and the library's own
//    overhead: start() up to ready, minus the control plane's own time from
//    process start to its first /readyz 200 (as the k3s entry logs it).
//    Target overhead ≤ 1 s.
// 2. API call latency p50/p99: client.core.listNamespacedConfigMap through
//    k3sbox (client-node + recorder + tagging + mTLS transport) against a
//    plain runtime fetch of the same URL with the same client certificate.
//    Target ≤ 1.1x at p50.

import { logsTail } from "../lib/docker.ts";
import { k3s, type K3sHelpers } from "../lib/k3s/k3s.ts";
import { tlsMaterialOf } from "../lib/kube/client.ts";
import { createTransport } from "../lib/kube/transport.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import type { ServiceDefinition } from "../lib/service.ts";

const image = process.env.K3SBOX_TESTBED_IMAGE;
if (!image) {
  console.error("set K3SBOX_TESTBED_IMAGE (scripts/setup.sh --tests prints it; or bash testbed/image.sh)");
  process.exit(2);
}
const RUNS = Number(process.argv[2] ?? 3);
const CALLS = Number(process.argv[3] ?? 300);
const cluster = (): ServiceDefinition<K3sHelpers> => ({ ...k3s({ ingressDomains: ["example.test"] }), image: { type: "registry", reference: image }, privileged: false });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

console.log(`k3sbox start-up benchmark — ${runtime}, image ${image}, ${RUNS} starts`);
const rows: { toReady: number; setup: number; controlPlane: number; overhead: number }[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const env = await startEnvironment({ services: { k8s: cluster() } });
  const total = performance.now() - t0;
  const t = env.timings;
  const toReady = t.preflight + t.network + t.containers + t.ready + t.helpers;
  const logs = await logsTail(env.services.k8s.containerId, 1000);
  const m = /kube-apiserver ready at \S+ after ([\d.]+)s/.exec(logs);
  await env.stop();
  if (!m) throw new Error("the k3s entry did not log its readiness time");
  const controlPlane = Number(m[1]) * 1000;
  rows.push({ toReady, setup: t.setup, controlPlane, overhead: toReady - controlPlane });
  console.log(`  start ${i + 1}: total ${total.toFixed(0)} ms = ${Object.entries(t).map(([k, v]) => `${k} ${v}`).join(", ")}`);
}
const med = (k: keyof (typeof rows)[0]) => pct(rows.map((r) => r[k]), 50);
console.log(`\nmedian time to ready            ${med("toReady").toFixed(0).padStart(6)} ms`);
console.log(`median time in setup            ${med("setup").toFixed(0).padStart(6)} ms   (Traefik + registry rollouts, TLS secret)`);
console.log(`control plane's own /readyz     ${med("controlPlane").toFixed(0).padStart(6)} ms   (from the k3s entry's log)`);
console.log(`library overhead                ${med("overhead").toFixed(0).padStart(6)} ms   target ≤ 1000 ms: ${med("overhead") <= 1000 ? "PASS" : "MISS"}`);
console.log(`  (overhead = preflight + network + container create/start + readiness detection + helpers − control plane time;`);
console.log(`   it includes Docker's own container start, about 350 ms here)`);

// API call latency.
const env = await startEnvironment({ services: { k8s: cluster() } });
try {
  const h = env.svc.k8s;
  const url = `${h.kubeconfig.getCurrentCluster()!.server}/api/v1/namespaces/default/configmaps`;
  const { tls } = await tlsMaterialOf(h.kubeconfig);
  const plain = createTransport(tls);
  const viaK3sbox: number[] = [];
  const viaFetch: number[] = [];
  for (let i = 0; i < 30; i++) { // warm both connection pools
    await h.client.core.listNamespacedConfigMap({ namespace: "default" });
    await (await plain.fetch(url, { method: "GET" })).arrayBuffer();
  }
  for (let i = 0; i < CALLS; i++) {
    let t0 = performance.now();
    await h.client.core.listNamespacedConfigMap({ namespace: "default" });
    viaK3sbox.push(performance.now() - t0);
    t0 = performance.now();
    await (await plain.fetch(url, { method: "GET", headers: { accept: "application/json" } })).json();
    viaFetch.push(performance.now() - t0);
  }
  plain.close();
  const ratio = pct(viaK3sbox, 50) / pct(viaFetch, 50);
  console.log(`\nAPI call latency, GET configmaps, ${CALLS} calls each, interleaved`);
  console.log(`  plain fetch (same mTLS)   p50 ${pct(viaFetch, 50).toFixed(2)} ms   p99 ${pct(viaFetch, 99).toFixed(2)} ms`);
  console.log(`  k3sbox client             p50 ${pct(viaK3sbox, 50).toFixed(2)} ms   p99 ${pct(viaK3sbox, 99).toFixed(2)} ms`);
  console.log(`  ratio at p50              ${ratio.toFixed(3)}x   target ≤ 1.1x: ${ratio <= 1.1 ? "PASS" : "MISS"}   (p99 ratio ${(pct(viaK3sbox, 99) / pct(viaFetch, 99)).toFixed(2)}x)`);
} finally {
  await env.stop();
}
