// Cold start vs attaching to a reused cluster, side by side: k3s() on the
// node image (real kubelet/containerd), started with { reuse: true } once
// (cold: boot, setup, rollouts), then attached to by fresh processes, each
// timed from process start of the attach (reuse lookup, CA, ready check,
// helpers). Target: attach ≤ 0.5 s. Prints medians and the ratio.
//
//   K3SBOX_TESTBED_IMAGE=k3sbox-testbed:latest bun bench/reuse.ts [attaches]

import { k3s } from "../lib/k3s/k3s.ts";
import { run } from "../lib/exec.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import { removeReused } from "../lib/runner/reuse.ts";
import { scriptArgv } from "../tests/support/script.ts";

const image = process.env.K3SBOX_TESTBED_IMAGE;
if (!image) {
  console.error("set K3SBOX_TESTBED_IMAGE (scripts/setup.sh --tests prints it; or bash testbed/image.sh)");
  process.exit(2);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// A domain of its own, so the bench never attaches to a cluster someone else is reusing.
const domain = process.env.K3SBOX_BENCH_DOMAIN ??
  `bench-${Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("")}.test`;
const definition = () => ({ k8s: k3s({ image, ingressDomains: [domain] }) });

if (process.argv[2] === "--attach-once") {
  // Child: one attach, timed inside the process (the runtime's own start-up is not the library's).
  const t0 = performance.now();
  const env = await startEnvironment({ reuse: true, services: definition() });
  const ms = performance.now() - t0;
  await env.svc.k8s.client.core.listNode();
  console.log(JSON.stringify({ id: env.id, ms, timings: env.timings }));
  await env.stop();
  process.exit(0);
}

const ATTACHES = Number(process.argv[2] ?? 5);
const colds: number[] = [];
const attaches: number[] = [];
let id = "";
try {
  // Cold: a fresh reuse cluster (nothing to attach to, as the domain is new).
  const t0 = performance.now();
  const env = await startEnvironment({ reuse: true, services: definition() });
  colds.push(performance.now() - t0);
  id = env.id;
  await env.stop(); // kept
  for (let i = 0; i < ATTACHES; i++) {
    const [cmd, ...args] = scriptArgv(new URL(import.meta.url).pathname);
    const r = await run(cmd, [...args, "--attach-once"], { env: { K3SBOX_BENCH_DOMAIN: domain }, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`attach ${i}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    if (out.id !== id) throw new Error(`attach ${i} got environment ${out.id}, not ${id}`);
    attaches.push(out.ms);
  }
  const [c, a] = [median(colds), median(attaches)];
  console.log(`k3s() on ${image} (${runtime}):`);
  console.log(`  cold start (boot + setup)      ${c.toFixed(0).padStart(6)} ms`);
  console.log(`  attach to the reused cluster   ${a.toFixed(0).padStart(6)} ms (median of ${ATTACHES}; runs ${attaches.map(Math.round).join(", ")}; target ≤ 500 ms)`);
  console.log(`  attach / cold = ${(a / c).toFixed(3)}x`);
} finally {
  if (id) await removeReused(id);
}
