// Boot cost of k3s({ agents }) on the node image, for 0, 1 and 2 agents
// side by side: wall time from startEnvironment() to every node Ready (the
// environment is handed out then), when each agent became Ready (env.timings),
// and the CPU seconds the boot cost — the node containers' own (cgroup v1
// cpuacct of each container, read on the host) plus this process's.
//
//   K3SBOX_TESTBED_IMAGE=k3sbox-testbed:latest bun bench/agents.ts [runs]
//
// Target (issue 17): each agent adds ≤ 2 s to the boot on this machine.

import { readFile } from "node:fs/promises";
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

async function boot(agents: number): Promise<{ wallMs: number; agentsReady: number[]; cpuSecs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const env: Env = await startEnvironment({ services: { k8s: { ...k3s({ agents }), image: { type: "registry", reference: image! } } } });
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

const rows: string[] = [];
for (const agents of [0, 1, 2]) {
  for (let r = 0; r < RUNS; r++) {
    const b = await boot(agents);
    rows.push(
      `agents=${agents}  all nodes Ready ${(b.wallMs / 1000).toFixed(1)} s` +
        (b.agentsReady.length ? `  (agents Ready ${b.agentsReady.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")} after their start)` : "") +
        `  CPU ${Number.isNaN(b.cpuSecs) ? "n/a (no cgroup v1 cpuacct)" : `${b.cpuSecs.toFixed(1)} s`}`,
    );
    console.error(rows.at(-1));
  }
}
console.log(rows.join("\n"));
