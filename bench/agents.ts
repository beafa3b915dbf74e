// Boot cost of k3s({ agents }) on the node image, for 0, 1 and 2 agents,
// rounds alternating: wall time from startEnvironment() to every node Ready
// (the environment is handed out then), when each agent became Ready
// (env.timings), and the CPU seconds the boot cost — the node containers' own
// (cgroup v1 cpuacct of each container, read on the host) plus this process's.
//
// Side by side, the way rancher/k3s (and k3d) boot: the bare node image,
// whose every node imports its images from tarballs at start (handed over by
// k3sbox's host-side cache, as k3s imports its airgap directory), against
// the node image whose images come in containerd's store.
//
//   K3SBOX_TESTBED_IMAGE=… [K3SBOX_TESTBED_BARE_IMAGE=…] bun bench/agents.ts [runs]
//   (scripts/setup.sh --tests prints both)
//
// Target (issue 17): each agent adds ≤ 2 s to the boot on this machine.

import { readFile } from "node:fs/promises";
import { runtime } from "../lib/runtime.ts";
import { k3s, type K3sHelpers } from "../lib/k3s/k3s.ts";
import { type Environment, startEnvironment } from "../lib/runner/environment.ts";
import type { ServiceDefinition } from "../lib/service.ts";

const image = process.env.K3SBOX_TESTBED_IMAGE;
if (!image) {
  console.error("set K3SBOX_TESTBED_IMAGE (scripts/setup.sh --tests prints it; or bash testbed/image.sh)");
  process.exit(2);
}
const RUNS = Number(process.argv[2] ?? 1);

/** CPU seconds a container has used so far (cgroup v1 cpuacct, as Docker lays it out), or NaN. */
async function containerCpuSecs(id: string): Promise<number> {
  for (const dir of ["/sys/fs/cgroup/cpuacct/docker", "/sys/fs/cgroup/cpu,cpuacct/docker"]) {
    const ns = await readFile(`${dir}/${id}/cpuacct.usage`, "utf8").catch(() => undefined);
    if (ns !== undefined) return Number(ns) / 1e9;
  }
  return Number.NaN;
}

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;

async function boot(agents: number, ref: string): Promise<{ wallMs: number; agentsReady: number[]; cpuSecs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const env: Env = await startEnvironment({ services: { k8s: { ...k3s({ agents }), image: { type: "registry", reference: ref } } } });
  try {
    // With no agents the environment does not wait for the node: wait here, so each row ends at "every node Ready".
    for (;;) {
      const nodes = (await env.svc.k8s.client.core.listNode()).unwrap().items;
      if (nodes.length === agents + 1 && nodes.every((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const wallMs = performance.now() - t0;
    const handles = await env.svc.k8s.nodes();
    const containerCpu = (await Promise.all(handles.map((h) => containerCpuSecs(h.container)))).reduce((a, b) => a + b, 0);
    const own = process.cpuUsage(cpu0);
    const agentsReady = Object.entries(env.timings).filter(([k]) => k.endsWith(" Ready")).map(([, v]) => v);
    return { wallMs, agentsReady, cpuSecs: containerCpu + (own.user + own.system) / 1e6 };
  } finally {
    await env.stop();
  }
}

const bare = process.env.K3SBOX_TESTBED_BARE_IMAGE;
const images: [string, string][] = [["images in containerd's store", image], ...(bare ? [["imports at start (bare)", bare] as [string, string]] : [])];
if (!bare) console.error("K3SBOX_TESTBED_BARE_IMAGE is not set: no side-by-side row for a node that imports its images at start");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map<string, { wall: number[]; cpu: number[]; agentReady: number[] }>();
for (let r = 0; r < RUNS; r++) {
  for (const agents of [0, 1, 2]) {
    for (const [label, ref] of images) {
      const b = await boot(agents, ref);
      const key = `${label}|${agents}`;
      const row = results.get(key) ?? { wall: [], cpu: [], agentReady: [] };
      row.wall.push(b.wallMs / 1000);
      row.cpu.push(b.cpuSecs);
      row.agentReady.push(...b.agentsReady.map((ms) => ms / 1000));
      results.set(key, row);
      console.error(`${label}, agents=${agents}: all nodes Ready ${(b.wallMs / 1000).toFixed(1)} s, CPU ${b.cpuSecs.toFixed(1)} s`);
    }
  }
}
const s1 = (x: number) => `${x.toFixed(1)} s`;
console.log(`k3s({ agents }) boot, medians of ${RUNS} alternating rounds (${runtime})`);
console.log(`${"node".padEnd(30)}${"agents".padStart(7)}${"all Ready".padStart(11)}${"agents Ready".padStart(14)}${"CPU".padStart(9)}`);
for (const [label] of images) {
  for (const agents of [0, 1, 2]) {
    const row = results.get(`${label}|${agents}`)!;
    console.log(`${label.padEnd(30)}${String(agents).padStart(7)}${s1(median(row.wall)).padStart(11)}${(row.agentReady.length ? s1(median(row.agentReady)) : "").padStart(14)}${s1(median(row.cpu)).padStart(9)}`);
  }
  const perAgent = (median(results.get(`${label}|2`)!.wall) - median(results.get(`${label}|0`)!.wall)) / 2;
  console.log(`${label}: each agent adds ${s1(perAgent)} to the boot (target ≤ 2 s)`);
}
if (bare) {
  const two = (label: string) => results.get(`${label}|2`)!;
  const [ours, theirs] = images.map(([label]) => two(label));
  console.log(`2 agents, store/imports ratio: wall ${(median(ours.wall) / median(theirs.wall)).toFixed(2)}, CPU ${(median(ours.cpu) / median(theirs.cpu)).toFixed(2)} (below 1.0: the store is cheaper)`);
}
