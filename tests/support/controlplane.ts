// A real Kubernetes control plane for the test suite: the testbed's
// k3s-compatible entry (`k3s server`) run as a host process. It starts
// upstream etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok (one fake, untainted Node) on free loopback ports.
//
// The binaries come from testbed/build.sh; scripts/test.sh exports their
// directory as K3SBOX_TESTBED_BIN.

import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTransport } from "../../lib/kube/transport.ts";
import { loadKubeconfig, tlsMaterialOf } from "../../lib/kube/client.ts";
import { run } from "../../lib/exec.ts";
import { type Child, spawnChild } from "./spawn-child.ts";
import { sleep } from "../../lib/sleep.ts";

export const TESTBED_BIN = process.env.K3SBOX_TESTBED_BIN;
export const TESTBED_IMAGE = process.env.K3SBOX_TESTBED_IMAGE;
export const NO_TESTBED_REASON =
  "K3SBOX_TESTBED_BIN is not set: run scripts/test.sh, which builds the control plane from upstream sources (or export K3SBOX_TESTBED_BIN=$(bash testbed/build.sh))";
export const NO_IMAGE_REASON =
  "K3SBOX_TESTBED_IMAGE is not set: run scripts/test.sh, which builds the k3s-compatible test image (or bash testbed/image.sh)";

export interface ControlPlane {
  dataDir: string;
  kubeconfigPath: string;
  kubeconfigYaml: string;
  server: string;
  /** Milliseconds from spawn to the first /readyz 200. */
  readyAfterMs: number;
  stop(): Promise<void>;
  logTail(lines?: number): Promise<string>;
  /** Signals the control-plane process (SIGSTOP freezes the API server as `docker pause` would; SIGCONT thaws it). */
  signal(sig: NodeJS.Signals): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** `root` and its descendants (from /proc: each process's parent is field 4 of its stat line). */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* ended meanwhile */ }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** Polls GET /readyz with the admin client certificate until it answers 200. */
async function waitReadyz(kubeconfigPath: string, child: Child, deadline: number, logTail: () => Promise<string>): Promise<string> {
  let exited: number | undefined;
  child.exited.then((c) => (exited = c));
  let last = "kubeconfig not written yet";
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`control plane exited with ${exited} before /readyz:\n${await logTail()}`);
    const yaml = await readFile(kubeconfigPath, "utf8").catch(() => undefined);
    if (yaml) {
      const kc = await loadKubeconfig(yaml);
      const { tls } = await tlsMaterialOf(kc);
      const transport = createTransport(tls);
      try {
        const res = await transport.fetch(`${kc.getCurrentCluster()!.server}/readyz`, { method: "GET" });
        last = `/readyz ${res.status}: ${(await res.text()).slice(-200)}`;
        if (res.status === 200) return yaml;
      } catch (err) {
        last = (err as Error).message;
      } finally {
        transport.close();
      }
    }
    await sleep(100);
  }
  throw new Error(`control plane not ready in time (last: ${last})\n${await logTail()}`);
}

export async function startControlPlane(opts: { timeoutMs?: number } = {}): Promise<ControlPlane> {
  if (!TESTBED_BIN) throw new Error(NO_TESTBED_REASON);
  const dataDir = await mkdtemp(join(tmpdir(), "k3sbox-cp-"));
  const kubeconfigPath = join(dataDir, "kubeconfig.yaml");
  const logPath = join(dataDir, "k3s.log");
  const port = await freePort();
  const t0 = performance.now();
  const child = await spawnChild(join(TESTBED_BIN, "k3s"), [
    "server",
    `--data-dir=${dataDir}`,
    `--https-listen-port=${port}`,
    "--bind-address=127.0.0.1",
    `--write-kubeconfig=${kubeconfigPath}`,
    "--node-name=k3sbox-node",
  ], { logPath });
  const logTail = async (lines = 40) => {
    const r = await run("tail", ["-n", String(lines), logPath]);
    return r.stdout;
  };
  // The whole process tree (the shim starts etcd, kube-apiserver, … as its children), as `docker pause` freezes a container's every process.
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of processTree(child.pid)) {
      try {
        process.kill(pid, sig);
      } catch { /* already gone */ }
    }
  };
  const stop = async () => {
    signal("SIGCONT"); // a frozen one would not act on SIGTERM
    child.kill("SIGTERM");
    const done = await Promise.race([child.exited, sleep(15_000).then(() => undefined)]);
    if (done === undefined) {
      child.kill("SIGKILL");
      await child.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const yaml = await waitReadyz(kubeconfigPath, child, Date.now() + (opts.timeoutMs ?? 90_000), logTail);
    return {
      dataDir,
      kubeconfigPath,
      kubeconfigYaml: yaml,
      server: `https://127.0.0.1:${port}`,
      readyAfterMs: Math.round(performance.now() - t0),
      stop,
      logTail,
      signal,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
