// Getting a ~50 MB locally built image into the node, three ways, side by
// side on one k3s() cluster (the node image: real containerd):
//   loadImages()   k3sbox's streamed `docker save | docker exec -i … ctr images import -`
//   raw pipeline   the same pipeline typed into a shell (the target: loadImages ≤ 1.1× this)
//   registry       `docker push` to the in-cluster registry's published port, then
//                  containerd pulls it from `<key>.internal:5000` (as the kubelet would)
// Every run uses a fresh image (random content), so no side finds its layers
// already in containerd. Medians and ratios are printed.
//
//   K3SBOX_TESTBED_IMAGE=k3sbox-testbed:latest bun bench/images.ts [runs]

import { docker } from "../lib/docker.ts";
import { k3s } from "../lib/k3s/k3s.ts";
import { CONTAINERD_SOCKET } from "../lib/k3s/load-images.ts";
import { run } from "../lib/exec.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../tests/support/images.ts";

const image = process.env.K3SBOX_TESTBED_IMAGE;
if (!image) {
  console.error("set K3SBOX_TESTBED_IMAGE (scripts/setup.sh --tests prints it; or bash testbed/image.sh)");
  process.exit(2);
}
const RUNS = Number(process.argv[2] ?? 3);
const MB = 50;
const id = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, "0")).join("");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await ensureBusyboxImage();
const tags: string[] = [];
async function freshImage(n: string): Promise<string> {
  const tag = `k3sbox-bench-load:${id}-${n}`;
  await docker(["build", "--quiet", "--tag", tag, "-"], {
    // The tag in the RUN line defeats Docker's build cache: every image gets its own random layer.
    stdin: `FROM ${BUSYBOX_IMAGE}\nRUN head -c ${MB}000000 /dev/urandom > /blob && echo ${tag} > /tag\n`,
    timeoutMs: 300_000,
  });
  tags.push(tag);
  return tag;
}

const env = await startEnvironment({ services: { k8s: k3s({ image }) } });
const node = env.services.k8s.containerId;
const ctr = (...args: string[]) => ["exec", node, "ctr", "--address", CONTAINERD_SOCKET, "--namespace", "k8s.io", ...args];
try {
  const registryPort = env.hostPort("k8s", 5000);
  const t = { load: [] as number[], raw: [] as number[], registry: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const [a, b, c] = [await freshImage(`a${i}`), await freshImage(`b${i}`), await freshImage(`c${i}`)];
    const sides: [keyof typeof t, () => Promise<void>][] = [
      ["load", async () => void (await env.svc.k8s.loadImages(a))],
      ["raw", async () => {
        // Values reach the shell as positional parameters, never as code.
        const r = await run("sh", ["-c", 'docker save "$1" | docker exec -i "$2" ctr --address "$3" -n k8s.io images import -', "sh", b, node, CONTAINERD_SOCKET], { timeoutMs: 600_000 });
        if (r.code !== 0) throw new Error(`raw pipeline: ${r.stderr}`);
      }],
      ["registry", async () => {
        const pushed = `127.0.0.1:${registryPort}/bench:${id}-${i}`;
        await docker(["tag", c, pushed]);
        tags.push(pushed);
        await docker(["push", "--quiet", pushed], { timeoutMs: 600_000 });
        await docker(ctr("images", "pull", "--plain-http", `k8s.internal:5000/bench:${id}-${i}`), { timeoutMs: 600_000 });
      }],
    ];
    for (let k = 0; k < i % 3; k++) sides.push(sides.shift()!); // rotate who goes first
    for (const [name, fn] of sides) {
      const t0 = performance.now();
      await fn();
      t[name].push(performance.now() - t0);
    }
  }
  // Every side really put its image into containerd, with all of its content.
  const listed = await docker(ctr("images", "ls"));
  const want = [
    ...tags.filter((x) => /:[0-9a-f]+-[ab]\d+$/.test(x)).map((x) => `docker.io/library/${x}`),
    ...Array.from({ length: RUNS }, (_, i) => `k8s.internal:5000/bench:${id}-${i}`),
  ];
  for (const name of want) {
    const line = listed.split("\n").find((l) => l.startsWith(`${name} `));
    const size = Number(/([\d.]+) MiB/.exec(line ?? "")?.[1] ?? 0);
    if (size < MB * 0.9) throw new Error(`${name} is not (fully) in the node's containerd: ${line ?? "absent"}`);
  }
  console.log(`runs (ms): ${JSON.stringify(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.map(Math.round)])))}`);
  const [l, r, g] = [median(t.load), median(t.raw), median(t.registry)];
  console.log(`a ${MB} MB image into the node's containerd, ${RUNS} runs, median (${runtime}):`);
  console.log(`  loadImages()            ${l.toFixed(0).padStart(6)} ms`);
  console.log(`  raw shell pipeline      ${r.toFixed(0).padStart(6)} ms   loadImages / raw = ${(l / r).toFixed(2)}x (target ≤ 1.1x)`);
  console.log(`  push + pull (registry)  ${g.toFixed(0).padStart(6)} ms   loadImages / registry = ${(l / g).toFixed(2)}x`);
} finally {
  await env.stop();
  if (tags.length) await docker(["rmi", ...tags]).catch(() => {});
}
