// Start-up cost of k3s() on the node image (a real node: kubelet, containerd,
// CNI, kube-proxy, CoreDNS; run through the privileged fallback here), and
// the cost of the library's own layers next to the raw approach.
//
//   K3SBOX_TESTBED_IMAGE=k3sbox-testbed:latest bun bench/startup.ts [runs] [calls]
//
// Per start, the same sequence as `k3sbox smoke`, timed from the call to
// startEnvironment() (the library's overhead on top of the cluster's own
// time is shown where the cluster reports its own time):
//   API ready        /readyz answered and helpers connected; the library's
//                    overhead is that minus the node's own time from process
//                    start to its first /readyz 200 (the k3s entry logs it)
//   node Ready       the Node's Ready condition   } from the cluster's own
//   CoreDNS Ready    the CoreDNS pod's Ready       } timestamps (1 s resolution)
//   setup            Traefik + registry rolled out (and the TLS secret)
//   first HTTPS 200  demo app + Ingress applied, rolled out, first 200 through Traefik
//   smoke total      all of it plus teardown. Target ≤ 20 s on 2 cores.
// Then, on one cluster, side by side:
//   API call latency   client.core.listNamespacedConfigMap vs a plain fetch with the same mTLS
//   env.fetch latency  HTTPS through Traefik via env.fetch vs a raw node:https request to the
//                      published port with the same CA and SNI

import { request } from "node:https";
import { logsTail } from "../lib/docker.ts";
import { demoManifest } from "../lib/cli/smoke.ts";
import { k3s, type K3sHelpers } from "../lib/k3s/k3s.ts";
import { waitForDeployment } from "../lib/k3s/setup.ts";
import { tlsMaterialOf } from "../lib/kube/client.ts";
import { createTransport } from "../lib/kube/transport.ts";
import { runtime } from "../lib/runtime.ts";
import { type Environment, startEnvironment } from "../lib/runner/environment.ts";
import type { ServiceDefinition } from "../lib/service.ts";
import { sleep } from "../lib/sleep.ts";

const image = process.env.K3SBOX_TESTBED_IMAGE;
if (!image) {
  console.error("set K3SBOX_TESTBED_IMAGE (scripts/setup.sh --tests prints it; or bash testbed/image.sh)");
  process.exit(2);
}
const RUNS = Number(process.argv[2] ?? 3);
const CALLS = Number(process.argv[3] ?? 300);
const HOST = "hello.example.test";
const cluster = (): ServiceDefinition<K3sHelpers> => ({ ...k3s({ ingressDomains: ["example.test"] }), image: { type: "registry", reference: image } });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;

async function firstHttps(env: Env): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await env.fetch(`https://${HOST}/`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch { /* Traefik not routing yet */ }
    await sleep(50);
  }
  throw new Error(`no 200 from https://${HOST}/ within 60 s`);
}

/** Milliseconds from `wallStart` to a cluster timestamp (RFC 3339, 1 s resolution; same host clock). */
const since = (wallStart: number, iso: string | Date | undefined) => (iso ? new Date(iso).getTime() - wallStart : NaN);

console.log(`k3sbox start-up benchmark — ${runtime}, node image ${image}, ${RUNS} starts`);
const rows: Record<string, number>[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const wallStart = Date.now();
  const env: Env = await startEnvironment({ services: { k8s: cluster() } });
  const t = env.timings;
  const apiReady = t.preflight! + t.network! + t.containers! + t.ready! + t.helpers!;
  const afterSetup = performance.now() - t0;
  await env.svc.k8s.apply(demoManifest(HOST));
  await waitForDeployment("k8s", env.svc.k8s, { name: "hello", namespace: "default", timeoutMs: 60_000 });
  await firstHttps(env);
  const https = performance.now() - t0;

  const node = (await env.svc.k8s.client.core.listNode()).unwrap().items[0];
  const dns = (await env.svc.k8s.client.core.listNamespacedPod({ namespace: "kube-system", labelSelector: "k8s-app=kube-dns" })).unwrap().items[0];
  const logs = await logsTail(env.services.k8s.containerId, 1000);
  const own = /kube-apiserver ready at \S+ after ([\d.]+)s/.exec(logs);
  await env.stop();
  const total = performance.now() - t0;
  if (!own) throw new Error("the k3s entry did not log its readiness time");
  rows.push({
    apiReady,
    apiOwn: Number(own[1]) * 1000,
    nodeReady: since(wallStart, node?.status?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime),
    dnsReady: since(wallStart, dns?.status?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime),
    setup: afterSetup,
    https,
    total,
  });
  console.log(`  start ${i + 1}: smoke ${total.toFixed(0)} ms; runner phases ${Object.entries(t).map(([k, v]) => `${k} ${v}`).join(", ")}`);
}
const med = (k: string) => pct(rows.map((r) => r[k]!), 50);
const line = (label: string, ms: number, note = "") => console.log(`${label.padEnd(28)} ${ms.toFixed(0).padStart(6)} ms  ${note}`);
console.log(`\nmedians over ${RUNS} starts, from the call to startEnvironment():`);
line("API ready", med("apiReady"), `node's own /readyz ${med("apiOwn").toFixed(0)} ms → library overhead ${(med("apiReady") - med("apiOwn")).toFixed(0)} ms (target ≤ 1000)`);
line("node Ready (≈)", med("nodeReady"), "from the Node's Ready condition, 1 s resolution");
line("CoreDNS Ready (≈)", med("dnsReady"), "from the pod's Ready condition, 1 s resolution");
line("setup done", med("setup"), "Traefik + registry rolled out, TLS secret in place");
line("first HTTPS 200", med("https"), "whoami behind an Ingress, through Traefik, TLS verified");
line("smoke end to end", med("total"), `incl. teardown; target ≤ 20000: ${med("total") <= 20_000 ? "PASS" : "MISS"}`);
console.log("  (for scale, published, not measured here: minikube's time-to-k8s benchmark, 2025, GitHub runners: k3d 12.6 s to created / 19.9 s to DNS answering, kind 14.2 / 33.0 s)");

// Latency side by side, on one cluster.
const env: Env = await startEnvironment({ services: { k8s: cluster() } });
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
    let s = performance.now();
    await h.client.core.listNamespacedConfigMap({ namespace: "default" });
    viaK3sbox.push(performance.now() - s);
    s = performance.now();
    await (await plain.fetch(url, { method: "GET", headers: { accept: "application/json" } })).json();
    viaFetch.push(performance.now() - s);
  }
  plain.close();
  report("API call latency, GET configmaps", "plain fetch (same mTLS)", viaFetch, "k3sbox client", viaK3sbox, 1.1);

  await h.apply(demoManifest(HOST));
  await waitForDeployment("k8s", h, { name: "hello", namespace: "default", timeoutMs: 60_000 });
  await firstHttps(env);
  const port = env.hostPort("k8s", 443);
  const raw = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/", servername: HOST, headers: { host: HOST }, ca: env.caPem }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end();
    });
  const viaEnv: number[] = [];
  const viaRaw: number[] = [];
  const n = Math.min(CALLS, 200);
  for (let i = 0; i < n; i++) {
    let s = performance.now();
    await (await env.fetch(`https://${HOST}/`)).arrayBuffer();
    viaEnv.push(performance.now() - s);
    s = performance.now();
    await raw();
    viaRaw.push(performance.now() - s);
  }
  report(`HTTPS through Traefik, GET https://${HOST}/`, "raw node:https request", viaRaw, "env.fetch (routed, recorded)", viaEnv, 1.2);
} finally {
  await env.stop();
}

function report(title: string, baseName: string, base: number[], oursName: string, ours: number[], target: number): void {
  const ratio = pct(ours, 50) / pct(base, 50);
  console.log(`\n${title}, ${ours.length} calls each, interleaved`);
  console.log(`  ${baseName.padEnd(30)} p50 ${pct(base, 50).toFixed(2)} ms   p99 ${pct(base, 99).toFixed(2)} ms`);
  console.log(`  ${oursName.padEnd(30)} p50 ${pct(ours, 50).toFixed(2)} ms   p99 ${pct(ours, 99).toFixed(2)} ms`);
  console.log(`  ratio at p50 ${ratio.toFixed(3)}x   target ≤ ${target}x: ${ratio <= target ? "PASS" : "MISS"}`);
}
