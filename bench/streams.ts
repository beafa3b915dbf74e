// exec and port-forward: k3sbox vs kubectl, side by side on one cluster (the
// node image, a real API server and kubelet), alternating rounds.
//
//   exec round trip       ns.exec(pod, ["true"])        vs `kubectl exec pod -- true`
//                         (kubectl's time includes its process start: that is
//                         what a test suite shelling out to it pays)
//   connection latency    connect → 1 byte → echo → close, sequential, through
//                         ns.portForward()  vs  a running `kubectl port-forward`
//   throughput            4 connections × 16 MB each way at once, same two forwards;
//                         the echo client runs in this process (beside k3sbox's
//                         forwarder, as in a test suite) while kubectl forwards
//                         in a process of its own
//   throughput, client    the same, the echo client in a child process for both
//   in a child            (forwarder against forwarder, each with its own process)
//
// Prints medians and k3sbox/kubectl ratios (below 1.0: k3sbox is faster).
//
//   export $(grep K3SBOX_ /tmp/setup.out | xargs)
//   bun bench/streams.ts [rounds]    deno run -A bench/streams.ts    node bench/streams.ts (type stripping)

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { k3s } from "../lib/k3s/k3s.ts";
import { run } from "../lib/exec.ts";
import { spawnChild } from "../tests/support/spawn-child.ts";
import { runtime } from "../lib/runtime.ts";
import { startEnvironment } from "../lib/runner/environment.ts";
import { scriptArgv } from "../tests/support/script.ts";
import { ECHO_PORT, echoPod, echoThroughput, openSocket, shellPod } from "../tests/support/streams.ts";

const ROUNDS = Number(process.argv[2] ?? 5);
const KUBECTL = process.env.KUBECTL ?? "kubectl";
const IMAGE = process.env.K3SBOX_TESTBED_IMAGE;
if (!IMAGE) throw new Error("K3SBOX_TESTBED_IMAGE is not set (export $(grep K3SBOX_ /tmp/setup.out | xargs))");
const MB = 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

/** One connect → 1 byte → echo → close. */
async function roundTrip(port: number): Promise<void> {
  const sock = await openSocket(port);
  await new Promise<void>((resolve, reject) => {
    sock.once("data", () => resolve());
    sock.once("error", reject);
    sock.write("x");
  });
  sock.destroy();
}

/** The same transfer from a child process (bench/streams-echo-client.ts), so the client has a process of its own. */
async function throughputFromChild(port: number, conns: number, bytes: number): Promise<number> {
  const [cmd, ...args] = scriptArgv(fileURLToPath(new URL("./streams-echo-client.ts", import.meta.url)));
  const out = await run(cmd, [...args, String(port), String(conns), String(bytes)], { timeoutMs: 180_000 });
  if (out.code !== 0) throw new Error(`echo client: ${out.stderr.trim()}`);
  return Number(out.stdout.trim().split("\n").pop());
}

await using env = await startEnvironment({
  services: { k8s: { ...k3s({ registry: false }), image: { type: "registry", reference: IMAGE } } },
});
const k8s = env.svc.k8s;
await using ns = await k8s.namespace("bench");
await ns.apply([shellPod("shell"), echoPod("echo-0", "echo")]);
await Promise.all(["shell", "echo-0"].map((p) => ns.waitFor(`pod/${p}`, "Ready", { timeoutMs: 120_000 })));
const dir = await mkdtemp(join(tmpdir(), "k3sbox-bench-streams-"));
const kubeconfig = await env.kubeconfigPath("k8s");
const kubectlVersion = (await run(KUBECTL, ["version", "--client"], { timeoutMs: 10_000 })).stdout.split("\n")[0];

// kubectl port-forward, running for the whole bench; its port from its first line.
const log = join(dir, "kubectl-port-forward.log");
const kpf = await spawnChild(KUBECTL, ["--kubeconfig", kubeconfig, "-n", ns.name, "port-forward", "pod/echo-0", `:${ECHO_PORT}`], { logPath: log });
let kubectlPort = 0;
for (let i = 0; i < 200 && !kubectlPort; i++) {
  const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(await readFile(log, "utf8").catch(() => ""));
  if (m) kubectlPort = Number(m[1]);
  else await new Promise((r) => setTimeout(r, 50));
}
if (!kubectlPort) throw new Error(`kubectl port-forward did not start: ${await readFile(log, "utf8").catch(() => "")}`);
await using fwd = await ns.portForward("pod/echo-0", ECHO_PORT);

try {
  const r = {
    execOurs: [] as number[],
    execKubectl: [] as number[],
    connOurs: [] as number[],
    connKubectl: [] as number[],
    tputOurs: [] as number[],
    tputKubectl: [] as number[],
    childOurs: [] as number[],
    childKubectl: [] as number[],
  };
  // Warm-up: first connections, TLS session caches, the kubelet's first exec.
  await ns.exec("shell", ["true"]);
  await run(KUBECTL, ["--kubeconfig", kubeconfig, "-n", ns.name, "exec", "shell", "--", "true"], { timeoutMs: 30_000 });
  await roundTrip(fwd.localPort);
  await roundTrip(kubectlPort);

  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < 4; i++) {
      r.execOurs.push(await time(async () => {
        const out = await ns.exec("shell", ["true"]);
        if (out.exitCode !== 0) throw new Error("exec true failed");
      }));
      r.execKubectl.push(await time(async () => {
        const out = await run(KUBECTL, ["--kubeconfig", kubeconfig, "-n", ns.name, "exec", "shell", "--", "true"], { timeoutMs: 30_000 });
        if (out.code !== 0) throw new Error(`kubectl exec: ${out.stderr}`);
      }));
    }
    for (let i = 0; i < 10; i++) {
      r.connOurs.push(await time(() => roundTrip(fwd.localPort)));
      r.connKubectl.push(await time(() => roundTrip(kubectlPort)));
    }
    r.tputOurs.push(await echoThroughput(fwd.localPort, 4, 16 * MB));
    r.tputKubectl.push(await echoThroughput(kubectlPort, 4, 16 * MB));
    r.childOurs.push(await throughputFromChild(fwd.localPort, 4, 16 * MB));
    r.childKubectl.push(await throughputFromChild(kubectlPort, 4, 16 * MB));
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const rows: [string, string, string, string][] = [
    ["exec round trip (median)", ms(median(r.execOurs)), ms(median(r.execKubectl)), (median(r.execOurs) / median(r.execKubectl)).toFixed(2)],
    ["port-forward connection latency (median)", ms(median(r.connOurs)), ms(median(r.connKubectl)), (median(r.connOurs) / median(r.connKubectl)).toFixed(2)],
    // For throughput the ratio is time per byte: kubectl's rate over ours.
    [
      "port-forward throughput, 4 conns (median)",
      `${median(r.tputOurs).toFixed(0)} MB/s`,
      `${median(r.tputKubectl).toFixed(0)} MB/s`,
      (median(r.tputKubectl) / median(r.tputOurs)).toFixed(2),
    ],
    [
      "  same, echo client in a child process",
      `${median(r.childOurs).toFixed(0)} MB/s`,
      `${median(r.childKubectl).toFixed(0)} MB/s`,
      (median(r.childKubectl) / median(r.childOurs)).toFixed(2),
    ],
  ];
  console.log(`streams bench: ${runtime}, ${ROUNDS} rounds, ${kubectlVersion}, node image ${IMAGE}`);
  console.log(`${"".padEnd(44)}${"k3sbox".padStart(12)}${"kubectl".padStart(12)}${"ratio".padStart(8)}  (k3sbox/kubectl time, ≤ 1.0 is as fast or faster)`);
  for (const [name, a, b, ratio] of rows) console.log(`${name.padEnd(44)}${a.padStart(12)}${b.padStart(12)}${ratio.padStart(8)}`);
} finally {
  kpf.kill();
  await kpf.exited.catch(() => {});
  await rm(dir, { recursive: true, force: true });
}
