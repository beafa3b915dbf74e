// What the topology decision (lib/docker/topology.ts) and the reach probe
// (lib/runner/reach.ts) add to a start, side by side with the start itself.
//
//   bun bench/topology.ts [iterations]      (or: deno run -A bench/topology.ts)
//
// 1. detection alone, uncached (environment, ~/.docker files,
//    /proc/self/mountinfo, and where a container id shows up, one `docker
//    inspect`), median of N, here and in a test process inside a
//    socket-mounted container (tests/support/dood.ts), where it inspects its
//    own container;
// 2. the reach probe (env.timings.reach) and the whole start → ready → stop
//    of a trivial HTTP service, median of N.
// Target: detection + probe ≤ 100 ms of a start.

import { decideTopology, gatherTopologyInputs } from "../lib/docker/topology.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import { runtime } from "../lib/runtime.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../tests/support/images.ts";
import { runInSocketContainer } from "../tests/support/dood.ts";

const N = Number(process.argv[2] ?? 8);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function detectOnce(): Promise<number> {
  const t0 = performance.now();
  decideTopology(await gatherTopologyInputs());
  return performance.now() - t0;
}

if (process.env.K3SBOX_BENCH_DETECT_ONLY) {
  // Inside the socket-mounted container: print the median detection time and the kind.
  const times: number[] = [];
  for (let i = 0; i < N; i++) times.push(await detectOnce());
  console.log(JSON.stringify({ ms: median(times), kind: decideTopology(await gatherTopologyInputs()).kind }));
  process.exit(0);
}

await ensureBusyboxImage();
const detect: number[] = [];
for (let i = 0; i < N; i++) detect.push(await detectOnce());

const r = await runInSocketContainer(`k3sbox-bench-topology-${process.pid}`, new URL(import.meta.url).pathname, { K3SBOX_BENCH_DETECT_ONLY: "1" }, 120_000, [String(N)]);
const inContainer = r.code === 0 ? JSON.parse(r.stdout.trim().split("\n").at(-1)!) : { ms: NaN, kind: `failed: ${r.stderr.slice(-200)}` };

const starts: number[] = [];
const reach: number[] = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const env = await startEnvironment({
    services: { web: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p 8080 -h /w", ports: [8080], readyCheck: { type: "http", port: 8080, timeoutSecs: 30 } } },
  });
  await env.stop();
  starts.push(performance.now() - t0);
  reach.push(env.timings.reach);
}

const d = median(detect), p = median(reach), s = median(starts);
console.log(`topology bench (${runtime}, median of ${N})`);
console.log(`  detection, host process (local):            ${d.toFixed(1)} ms`);
console.log(`  detection, in a socket-mounted container:  ${Number(inContainer.ms).toFixed(1)} ms (${inContainer.kind})`);
console.log(`  reach probe:                                ${p.toFixed(1)} ms`);
console.log(`  start → ready → stop, trivial service:      ${s.toFixed(0)} ms`);
console.log(`  detection + probe vs the start:             ${(d + p).toFixed(1)} ms vs ${s.toFixed(0)} ms = ${((d + p) / s * 100).toFixed(1)}% (target ≤ 100 ms)`);
