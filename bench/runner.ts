// Runner overhead and readiness detection latency, side by side.
//
//   bun bench/runner.ts [iterations]      (or: deno run -A bench/runner.ts)
//
// 1. start → ready → stop of a trivial HTTP service through startEnvironment,
//    against the same steps as raw `docker` commands (network create, create
//    with alias/label/publish, start, port lookup, poll the published port,
//    rm -f, network rm), alternating, median of N. Target ratio ≤ 1.15x.
// 2. readiness detection latency: the service logs a line just before it
//    becomes ready; latency = when the runner handed over (helpers hook ran)
//    minus that line's Docker timestamp. Target ≤ 100 ms. Shown for an http
//    check (host-side probe of the published port) and an exec check
//    (`docker exec` per try), next to a 1 s fixed-interval poll's expected
//    latency (what a naive loop gets).

import { docker } from "../lib/docker.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import type { ReadyCheck, ServiceDefinition } from "../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../tests/support/images.ts";
import { sleep } from "../lib/sleep.ts";

const N = Number(process.argv[2] ?? 8);
const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };
const HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function viaRunner(): Promise<number> {
  const t0 = performance.now();
  const env = await startEnvironment({
    services: { web: { image, command: HTTPD, ports: [8080], readyCheck: { type: "http", port: 8080, timeoutSecs: 30 } } },
  });
  await env.stop();
  return performance.now() - t0;
}

async function viaRawDocker(i: number): Promise<number> {
  const t0 = performance.now();
  const net = `k3sbox-bench-raw-${process.pid}-${i}`;
  await docker(["network", "create", "--label", "k3sbox.bench=raw", net]);
  const id = (await docker([
    "create", "--name", `${net}-web`, "--network", net, "--network-alias", "web", "--network-alias", "web.internal",
    "--label", "k3sbox.bench=raw", "-p", "127.0.0.1::8080", "--entrypoint", "/bin/sh", BUSYBOX_IMAGE, "-c", HTTPD,
  ])).trim();
  await docker(["start", id]);
  const port = (await docker(["port", id, "8080/tcp"])).trim().split(":").pop();
  while (true) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).ok) break;
    } catch { /* not yet */ }
    await sleep(25);
  }
  await docker(["rm", "-f", "-v", id]);
  await docker(["network", "rm", net]);
  return performance.now() - t0;
}

/** Readiness latency for one check kind: ready-line timestamp → runner hand-over. */
async function detectionLatency(kind: "http" | "exec"): Promise<number> {
  const check: ReadyCheck = kind === "http"
    ? { type: "http", port: 8080, timeoutSecs: 30 }
    : { type: "exec", command: "test -f /tmp/ready", timeoutSecs: 30 };
  const command = kind === "http"
    ? `sleep 1; echo READY-NOW; ${HTTPD}`
    : "sleep 1; touch /tmp/ready; echo READY-NOW; exec sleep 3600";
  let handedOver = 0;
  const def: ServiceDefinition<null> = { image, command, ports: [8080], readyCheck: check, helpers: () => ((handedOver = Date.now()), null) };
  const env = await startEnvironment({ services: { svc: def } });
  try {
    const logs = await docker(["logs", "--timestamps", env.services.svc.containerId]);
    const line = logs.split("\n").find((l) => l.includes("READY-NOW"));
    if (!line) throw new Error("ready line not found in logs");
    // RFC 3339 with nanoseconds; Date keeps milliseconds.
    const became = Date.parse(line.split(" ")[0].replace(/(\.\d{3})\d*/, "$1"));
    return handedOver - became;
  } finally {
    await env.stop();
  }
}

await ensureBusyboxImage();
console.log(`k3sbox runner benchmark — ${runtime}, ${N} iterations each, Docker ${(await docker(["version", "--format", "{{.Server.Version}}"])).trim()}`);
await viaRunner(); // warm-up: caches, privileged probe, image lookups
await viaRawDocker(-1);

const runner: number[] = [];
const raw: number[] = [];
for (let i = 0; i < N; i++) {
  raw.push(await viaRawDocker(i));
  runner.push(await viaRunner());
}
const ratio = median(runner) / median(raw);
console.log(`\nstart → ready → stop of a trivial HTTP service (median of ${N})`);
console.log(`  raw docker commands   ${median(raw).toFixed(0).padStart(6)} ms   (min ${Math.min(...raw).toFixed(0)}, max ${Math.max(...raw).toFixed(0)})`);
console.log(`  k3sbox runner         ${median(runner).toFixed(0).padStart(6)} ms   (min ${Math.min(...runner).toFixed(0)}, max ${Math.max(...runner).toFixed(0)})`);
console.log(`  ratio runner/raw      ${ratio.toFixed(3)}x   target ≤ 1.15x: ${ratio <= 1.15 ? "PASS" : "MISS"}`);

for (const kind of ["http", "exec"] as const) {
  const samples: number[] = [];
  for (let i = 0; i < Math.max(3, Math.ceil(N / 2)); i++) samples.push(await detectionLatency(kind));
  const m = median(samples);
  console.log(`\nreadiness detection latency, ${kind} check (median of ${samples.length}): ${m.toFixed(0)} ms` +
    `  [${samples.map((s) => s.toFixed(0)).join(", ")}]   target ≤ 100 ms: ${m <= 100 ? "PASS" : "MISS"}` +
    `   (a 1 s fixed poll averages ~500 ms: ratio ${(500 / Math.max(m, 1)).toFixed(1)}x)`);
}
