// k3s() end to end on the node image, for each topology (tests/composition/topology-*.test.ts):
// boot, apply, rollout, env.fetch over HTTPS through Traefik, kubectl through
// kubeconfigPath, loadImages, docker push to the in-cluster registry and a pod
// pulling from it, stop. Runs in this process against whatever daemon
// DOCKER_HOST names (tcp://: DinD), or inside a socket-mounted container
// (run as a script: prints the report as the last line).

import { k3s } from "../../lib/k3s/k3s.ts";
import { demoManifest } from "../../lib/cli/smoke.ts";
import { docker } from "../../lib/docker.ts";
import { run } from "../../lib/proc.ts";
import { SESSION_ID } from "../../lib/runner/labels.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE } from "./images.ts";
import { eventually } from "./eventually.ts";

export interface E2eReport {
  envId: string;
  session: string;
  kind: string;
  host: string;
  timings: Record<string, number>;
  /** The kubeconfig's server URL. */
  server: string;
  kubectlNodes: string;
  https: { status: number; body: string };
  loaded: string[];
  loadedPodPhase: string;
  pushed: string;
  pulledImageId: string;
}

const pod = (name: string, image: string, pullPolicy: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default }
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - { name: c, image: "${image}", imagePullPolicy: ${pullPolicy}, command: ["sh", "-c", "cat /token 2>/dev/null; echo started; exec sleep 3600"] }
`;

export async function k3sEndToEnd(image: string, kubectlBin: string, progress: (m: string) => void = () => {}): Promise<E2eReport> {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
  const token = `k3sbox-test-topo:${id}`;
  const pushTags: string[] = [];
  await docker(["build", "--quiet", "--tag", token, "-"], { stdin: `FROM ${BUSYBOX_IMAGE}\nRUN echo token-${id} > /token\nLABEL k3sbox.test-image=loaded\n`, timeoutMs: 120_000 });
  const env = await startEnvironment({
    services: { k8s: { ...k3s({ ingressDomains: ["example.test"] }), image: { type: "registry", reference: image } } },
    onProgress: progress,
  });
  try {
    const k8s = env.svc.k8s;
    await k8s.apply(demoManifest("hello.example.test"));
    await k8s.rollout("deployment/hello", { namespace: "default", timeoutMs: 120_000 });
    const https = await eventually("HTTPS through Traefik", async () => {
      const res = await env.fetch("https://hello.example.test/");
      const body = await res.text();
      return res.status === 200 ? { status: res.status, body } : undefined;
    }, 60_000, 250);

    const kubeconfig = await env.kubeconfigPath("k8s");
    const kc = await run(kubectlBin, ["--kubeconfig", kubeconfig, "get", "nodes", "-o", "name"], { timeoutMs: 60_000 });
    if (kc.code !== 0) throw new Error(`kubectl get nodes: ${kc.stderr}`);
    const server = (await run(kubectlBin, ["--kubeconfig", kubeconfig, "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"])).stdout.trim();

    const loaded = await k8s.loadImages(token);
    await k8s.apply(pod("loaded", token, "Never"));
    const loadedPhase = await eventually("pod loaded Running", async () => {
      const p = (await k8s.client.core.readNamespacedPod({ name: "loaded", namespace: "default" })).unwrap();
      return p.status?.phase === "Running" ? p.status.phase : undefined;
    }, 90_000, 250);

    // The daemon pushes, so the address is the daemon host's 127.0.0.1 (plain HTTP is allowed there).
    const pushed = `127.0.0.1:${env.daemonPort("k8s", 5000)}/k3sbox-test/busybox:${id}`;
    await docker(["tag", BUSYBOX_IMAGE, pushed]);
    pushTags.push(pushed);
    if (/Podman/.test(await docker(["version", "--format", "{{range .Server.Components}}{{.Name}} {{end}}"]))) {
      // Podman speaks HTTPS to every registry not marked insecure in registries.conf, 127.0.0.1 included,
      // and its Docker API takes no per-push switch: its own CLI does (same storage, as root).
      const r = await run("podman", ["push", "--tls-verify=false", pushed], { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`podman push ${pushed}: ${r.stderr}`);
    } else {
      await docker(["push", pushed], { timeoutMs: 120_000 });
    }
    await k8s.apply(pod("pulled", `k8s.internal:5000/k3sbox-test/busybox:${id}`, "IfNotPresent"));
    const pulledImageId = await eventually("pod pulled Running", async () => {
      const p = (await k8s.client.core.readNamespacedPod({ name: "pulled", namespace: "default" })).unwrap();
      return p.status?.phase === "Running" ? p.status.containerStatuses?.[0]?.imageID ?? "" : undefined;
    }, 90_000, 250);

    return {
      envId: env.id, session: SESSION_ID, kind: env.topology.kind, host: env.services.k8s.host, timings: env.timings, server,
      kubectlNodes: kc.stdout.trim(), https: { status: https.status, body: https.body.slice(0, 200) },
      loaded: loaded.map((l) => l.name), loadedPodPhase: loadedPhase, pushed, pulledImageId,
    };
  } finally {
    await env.stop();
    for (const t of [token, ...pushTags]) {
      await docker(["rmi", t]).catch((e) => console.error(`  (could not remove the test image ${t}: ${(e as Error).message})`));
    }
  }
}

if (import.meta.main) {
  try {
    const report = await k3sEndToEnd(process.env.K3SBOX_TESTBED_IMAGE!, process.argv[2] ?? "kubectl", (m) => console.error(m));
    console.log(JSON.stringify({ ok: true, ...report }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, message: (err as Error).message, session: SESSION_ID }));
  }
}
