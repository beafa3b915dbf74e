// The image cache, measured side by side in one run:
//  1. Boot to "setup done" (Traefik and the registry Ready) of the BARE node
//     image (no baked images, like rancher/k3s) handed its images from the
//     host-side cache, against the BAKED node image (images in its own
//     layer, as kind bakes them). Runs alternate; medians and the ratio are
//     printed (target: bare + cache ≤ 1.15 × baked). One untimed warm-up boot
//     of the bare image fills the cache first.
//  2. The first boot of a node image whose system images sit behind a slow
//     upstream (a real registry, distribution, behind a proxy limited to
//     RATE_MBPS, default 10 MB/s — a modest line to Docker Hub) against the
//     next boot of the same image, served by the cache.
//
//   K3SBOX_TESTBED_IMAGE=… K3SBOX_TESTBED_BARE_IMAGE=… bun bench/image-cache.ts [runs]
// (scripts/setup.sh --tests prints both.)

import { createConnection, createServer, type Socket } from "node:net";
import { docker, dockerResult } from "../lib/docker.ts";
import { listVolumes, removeVolumes } from "../lib/docker/volumes.ts";
import { LABEL_IMAGE_REF } from "../lib/images/cache.ts";
import { LABEL_NODE_IMAGE_REF } from "../lib/images/system-images.ts";
import { k3s } from "../lib/k3s/k3s.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import { sleep } from "../lib/sleep.ts";
import { freePort } from "../tests/support/controlplane.ts";

const baked = process.env.K3SBOX_TESTBED_IMAGE;
const bare = process.env.K3SBOX_TESTBED_BARE_IMAGE;
if (!baked || !bare) {
  console.error("set K3SBOX_TESTBED_IMAGE and K3SBOX_TESTBED_BARE_IMAGE (scripts/setup.sh --tests prints them)");
  process.exit(2);
}
const RUNS = Number(process.argv[2] ?? 3);
const RATE_MBPS = Number(process.env.RATE_MBPS ?? 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** ms from startEnvironment() to setup done; the environment is then removed. */
async function boot(image: string, log?: string[]): Promise<number> {
  const t0 = performance.now();
  const env = await startEnvironment({ services: { k8s: { ...k3s(), image: { type: "registry", reference: image } } }, onProgress: (m) => log?.push(m) });
  const ms = performance.now() - t0;
  await env.stop();
  return ms;
}

console.log(`runtime ${runtime}; ${RUNS} runs each`);
await boot(bare); // warm-up: fills the cache, learns the bare image's system images
const times = { baked: [] as number[], bare: [] as number[] };
for (let i = 0; i < RUNS; i++) {
  times.baked.push(await boot(baked));
  const log: string[] = [];
  times.bare.push(await boot(bare, log));
  if (!log.some((l) => /node images: \d+ from the cache/.test(l)) || log.some((l) => /pulling|learns them/.test(l))) {
    throw new Error(`the bare boot was not served by the cache:\n${log.join("\n")}`);
  }
}
const [b, c] = [median(times.baked), median(times.bare)];
console.log(`boot to setup done, baked node image:          median ${(b / 1000).toFixed(2)} s  (${times.baked.map((t) => (t / 1000).toFixed(2)).join(", ")})`);
console.log(`boot to setup done, bare node + image cache:   median ${(c / 1000).toFixed(2)} s  (${times.bare.map((t) => (t / 1000).toFixed(2)).join(", ")})`);
console.log(`ratio bare+cache / baked: ${(c / b).toFixed(2)}x (target <= 1.15x)`);

// 2. A slow upstream: a real registry behind a rate-limited TCP proxy.
const tag = `${process.pid}${Date.now().toString(36)}`;
const regPort = await freePort();
const registry = `k3sbox-bench-upstream-${tag}`;
await docker(["run", "--detach", "--name", registry, "--publish", `127.0.0.1:${regPort}:5000`, "registry:2"]);
const proxyPort = await freePort();
const proxy = createServer((client: Socket) => {
  const upstream = createConnection(regPort, "127.0.0.1");
  // Registry → client at RATE_MBPS: pause the upstream for as long as each chunk "takes".
  upstream.on("data", (chunk: Uint8Array) => {
    upstream.pause();
    client.write(chunk);
    setTimeout(() => upstream.resume(), (chunk.length / (RATE_MBPS * 1e6)) * 1000);
  });
  client.pipe(upstream);
  upstream.on("end", () => client.end());
  for (const s of [client, upstream]) s.on("error", () => (client.destroy(), upstream.destroy()));
});
await new Promise<void>((r) => proxy.listen(proxyPort, "127.0.0.1", r));
const node = `k3sbox-bench-slow-node:${tag}`;
const refs: string[] = [];
try {
  const envOf = async (name: string) => (JSON.parse(await docker(["image", "inspect", "--format", "{{json .Config.Env}}", bare])) as string[])
    .find((e) => e.startsWith(`${name}=`))!.split("=")[1];
  const system: [string, string, string][] = [
    ["K3SBOX_PAUSE_IMAGE", "rancher/mirrored-pause:3.6", "pause:3.6"],
    ["K3SBOX_COREDNS_IMAGE", await envOf("K3SBOX_COREDNS_IMAGE"), "coredns:1"],
    ["K3SBOX_LOCAL_PATH_IMAGE", await envOf("K3SBOX_LOCAL_PATH_IMAGE"), "local-path:1"],
    ["K3SBOX_LOCAL_PATH_HELPER_IMAGE", await envOf("K3SBOX_LOCAL_PATH_HELPER_IMAGE"), "busybox:1"],
  ];
  const envs: string[] = [];
  for (const [name, source, short] of system) {
    const pushRef = `127.0.0.1:${regPort}/bench-${tag}/${short}`;
    const ref = `127.0.0.1:${proxyPort}/bench-${tag}/${short}`;
    await docker(["tag", source, pushRef]);
    for (let i = 0; ; i++) {
      if ((await dockerResult(["push", "--quiet", pushRef], { timeoutMs: 120_000 })).code === 0) break;
      if (i > 20) throw new Error(`push ${pushRef} failed`);
      await sleep(500);
    }
    await docker(["rmi", pushRef]);
    envs.push(`${name}=${ref}`);
    refs.push(ref);
  }
  await docker(["build", "--quiet", "--tag", node, "-"], { stdin: `FROM ${bare}\nENV ${envs.join(" ")}\n` });
  const first = await boot(node);
  const cached = await boot(node);
  console.log(`first boot, system images through a ${RATE_MBPS} MB/s upstream: ${(first / 1000).toFixed(2)} s`);
  console.log(`next boot, system images from the cache:        ${(cached / 1000).toFixed(2)} s`);
  console.log(`ratio first / cached: ${(first / cached).toFixed(2)}x`);
} finally {
  proxy.close();
  await dockerResult(["rm", "--force", "--volumes", registry]);
  await dockerResult(["rmi", node]);
  const vols = [...(await Promise.all(refs.map((r) => listVolumes([`${LABEL_IMAGE_REF}=${r}`])))).flat(), ...await listVolumes([`${LABEL_NODE_IMAGE_REF}=${node}`])];
  await removeVolumes(vols.map((v) => v.name));
}
