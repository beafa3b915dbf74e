// What deciding how to run `privileged: true` costs the first preflight of a
// process, side by side:
//
//   bun bench/privilege.ts [iterations]      (or: deno run -A bench/privilege.ts)
//
// 1. one `--privileged` probe: all a host that grants it pays (and all the
//    preflight paid before the capability fallback existed);
// 2. the whole resolution as a run does it, uncached: on a host that refuses
//    --privileged for a capability, plus one probe of the fallback (all but
//    CAP_SYS_RESOURCE);
// 3. the capability search (forced: first guess drops nothing; sets, halved when refused), which a
//    host needs when more than CAP_SYS_RESOURCE is missing;
// 4. a cached answer (every later preflight of the same process and daemon).
// Medians of N; a benchmark, not a test: always exits 0.

import process from "node:process";
import { dockerInfo, probePrivilege } from "../lib/docker.ts";
import { resolvePrivilege } from "../lib/runner/privilege.ts";
import { runtime } from "../lib/runtime.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../tests/support/images.ts";

const N = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

await ensureBusyboxImage();
const info = await dockerInfo();
const resolution = await resolvePrivilege(BUSYBOX_IMAGE, info.id);
console.log(`k3sbox privilege resolution benchmark — ${runtime}, Docker ${info.serverVersion}, ${N} iterations each`);
console.log(`this host: ${JSON.stringify(resolution.ok ? resolution.privilege : resolution)}`);

const single = await timeEach(N, () => probePrivilege(BUSYBOX_IMAGE, { mode: "full" }));
const whole = await timeEach(N, () => resolvePrivilege(BUSYBOX_IMAGE, info.id, {}));
const search = await timeEach(Math.min(N, 3), () => resolvePrivilege(BUSYBOX_IMAGE, info.id, { firstGuess: [] }));
const cached = await timeEach(N, () => resolvePrivilege(BUSYBOX_IMAGE, info.id));

const row = (name: string, xs: number[]) =>
  console.log(`  ${name.padEnd(46)} ${median(xs).toFixed(0).padStart(6)} ms   (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`);
console.log("");
row("one --privileged probe (before the fallback)", single);
row("resolution as a run does it (uncached)", whole);
row("capability search (forced)", search);
row("cached answer", cached);
console.log(`\n  extra cost of the fallback detection: ${(median(whole) - median(single)).toFixed(0)} ms once per process ` +
  `(ratio ${(median(whole) / median(single)).toFixed(2)}x of one probe); later preflights: ${median(cached).toFixed(2)} ms`);
