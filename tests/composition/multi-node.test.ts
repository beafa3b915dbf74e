// k3s({ agents: 2 }) end to end on the node image: a server and two agent
// containers (companions of the k8s service) that joined with the server's
// token; a DaemonSet runs a pod on each node; pods on different nodes reach
// each other by pod IP over the node entry's host-gw routes and by Service
// name; an Ingress reaches a pod on an agent and a local-path PVC binds on
// another; loadImages reaches every node; node handles take agents away and bring them back;
// stop() leaves nothing.
//
// The pods run the busybox the node image carries for local-path's helper
// pods (every node imports it at start), so nothing is pulled or loaded.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { AGENT_TOKEN_PATH } from "../../lib/k3s/agents.ts";
import { docker, dockerResult, listByLabel } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { LABEL_COMPANION } from "../../lib/runner/companions.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { onlyUnder } from "../support/one-runtime.ts";
import { eventually } from "../support/eventually.ts";
import { kubectlWith } from "../support/kubectl.ts";
import { leftovers } from "../support/leftovers.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { runTag } from "../support/child-processes.ts";
import { k3sbox } from "../support/cli.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;

const LONG = { timeoutMs: 180_000 };
const AGENT_NODES = ["k8s-agent-1", "k8s-agent-2"];
const GRACE_SECS = 20;
const INGRESS_DOMAIN = `mn${runTag()}.test`;

type Pod = { name: string; node: string; ip: string };

/** A node's Ready condition status ("True", "False", "Unknown"). */
async function readyStatus(env: Env, name: string): Promise<string | undefined> {
  const node = (await env.svc.k8s.client.core.readNode({ name })).unwrap();
  return node.status?.conditions?.find((c) => c.type === "Ready")?.status;
}

async function echoPods(env: Env): Promise<Pod[] | undefined> {
  const list = (await env.svc.k8s.client.core.listNamespacedPod({ namespace: "default", labelSelector: "app=echo" })).unwrap().items;
  const running = list.filter((p) => p.status?.phase === "Running" && p.status?.podIP && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  return running.length === 3 ? running.map((p): Pod => ({ name: p.metadata!.name!, node: p.spec!.nodeName!, ip: p.status!.podIP! })) : undefined;
}

/** The busybox reference the node image bakes in (image.sh records it in the image's env). */
async function bakedBusybox(image: string): Promise<string> {
  const env: string[] = JSON.parse(await docker(["image", "inspect", "--format", "{{json .Config.Env}}", image]));
  const ref = env.find((e) => e.startsWith("K3SBOX_LOCAL_PATH_HELPER_IMAGE="))?.split("=")[1];
  assert.ok(ref, `${image} names its busybox in K3SBOX_LOCAL_PATH_HELPER_IMAGE`);
  return ref;
}

/** Each node's routes and host-gw log lines, for a failed pod-network check (what routed where). */
async function podNetworkState(env: Env): Promise<string> {
  const nodes = await env.svc.k8s.nodes().catch(() => []);
  const parts = await Promise.all(nodes.map(async (n) => {
    const routes = await docker(["exec", n.container, "ip", "route"]).catch((e) => `(ip route: ${(e as Error).message})`);
    const log = await dockerResult(["logs", "--tail", "2000", n.container]).then((r) => r.stdout + r.stderr, () => "");
    const hostgw = log.split("\n").filter((l) => /host-gw/.test(l)).slice(-6).join("\n");
    return `--- node ${n.name} (${n.container}):\n${routes.trim()}\n${hostgw || "(no host-gw log line)"}`;
  }));
  return `pod network state:\n${parts.join("\n")}`;
}

function echoDaemonSet(image: string): string {
  // Each pod answers on :8080 with its own name, then the caller's address
  // as it saw it (nc -e runs the script with the connection as stdio).
  return `
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: echo, namespace: default }
spec:
  selector: { matchLabels: { app: echo } }
  template:
    metadata: { labels: { app: echo } }
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{ operator: Exists }]
      containers:
      - name: echo
        image: ${image}
        imagePullPolicy: Never
        command: ["sh", "-c", "printf '#!/bin/sh\\\\nhostname\\\\n' > /tmp/who && chmod +x /tmp/who && exec nc -ll -p 8080 -e /tmp/who"]
`;
}

const notHere = onlyUnder("deno", "the multi-node suite");
if (!TESTBED_IMAGE) {
  skip("multi-node clusters (agents)", NO_IMAGE_REASON);
} else if (notHere) {
  skip("multi-node clusters (agents)", notHere);
} else {
  const loadedToken = `token-${runTag()}`;
  const loadedTag = `k3sbox-test-loaded:${loadedToken}`;
  suite("composition: k3s({ agents: 2 }) — a server and two agent nodes, host-gw pod network", {
    setupTimeoutMs: 420_000,
    setup: async () => {
      const progress: string[] = [];
      const env: Env = await startEnvironment({
        services: {
          k8s: {
            // A short grace period, so a node taken away goes NotReady within seconds.
            ...k3s({ agents: 2, ingressDomains: [INGRESS_DOMAIN], extraArgs: [`--kube-controller-manager-arg=node-monitor-grace-period=${GRACE_SECS}s`] }),
            image: { type: "registry", reference: TESTBED_IMAGE! },
          },
        },
        onProgress: (m) => progress.push(m),
      });
      console.error(`  environment ${env.id} ready: ${JSON.stringify(env.timings)}`);
      const kubeconfig = await env.kubeconfigPath("k8s");
      const kubectl = kubectlWith(kubeconfig);
      return { env, kubectl, progress };
    },
    teardown: async ({ env }) => {
      const ids = (await env.svc.k8s.nodes().catch(() => [])).map((n) => n.container);
      await env.stop();
      await docker(["rmi", loadedTag]).catch(() => {});
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves no container (server or agent) and no network");
      // Each node's pod cgroups lived below its container's cgroup, its mounts and veths in its namespaces.
      const mounts = await readFile("/proc/self/mountinfo", "utf8");
      for (const id of ids) {
        const cgroups = await run("sh", ["-c", `ls -d /sys/fs/cgroup/*/docker/${id}* 2>/dev/null; true`]);
        assert.equal(cgroups.stdout.trim(), "", `no cgroup directory of node container ${id} is left on the host`);
        assert.ok(!mounts.includes(id), `no mount of node container ${id} is left on the host`);
      }
    },
  }, (t) => {
    t("three nodes are Ready: the server and two agents with readable names and k3sbox's labels", async ({ env, progress }) => {
      const nodes = (await env.svc.k8s.client.core.listNode()).unwrap().items;
      assert.equal(nodes.length, 3, nodes.map((n) => n.metadata?.name).join(", "));
      for (const n of nodes) {
        assert.equal(n.status?.conditions?.find((c) => c.type === "Ready")?.status, "True", `${n.metadata?.name} Ready`);
        assert.match(n.status?.nodeInfo?.containerRuntimeVersion ?? "", /^containerd:\/\//);
      }
      const agents = nodes.filter((n) => n.metadata?.labels?.["k3sbox.io/role"] === "agent");
      assert.deepEqual(agents.map((n) => n.metadata?.name).sort(), AGENT_NODES);
      for (const a of agents) {
        assert.equal(a.metadata?.labels?.["node-role.kubernetes.io/control-plane"], undefined, "an agent is no control-plane node");
        assert.ok(a.spec?.podCIDR, `${a.metadata?.name} has a podCIDR`);
      }
      const server = nodes.find((n) => n.metadata?.labels?.["node-role.kubernetes.io/control-plane"] === "true");
      assert.ok(server, "the server's node is the control-plane node");
      assert.equal(new Set(nodes.map((n) => n.spec?.podCIDR)).size, 3, "each node has a podCIDR of its own");
      assert.ok(progress.some((m) => /agent nodes Ready: k8s-agent-1 \d+ms, k8s-agent-2 \d+ms|agent nodes Ready: k8s-agent-2 \d+ms, k8s-agent-1 \d+ms/.test(m)), progress.join("\n"));
      for (const n of AGENT_NODES) assert.ok(env.timings[`k8s: ${n} Ready`]! > 0, `env.timings has k8s: ${n} Ready: ${JSON.stringify(env.timings)}`);

      // The agents are companions of the k8s service: labelled with the environment, named after it.
      const containers = await listByLabel("container", [`${LABEL_ENV}=${env.id}`, LABEL_COMPANION]);
      assert.deepEqual(containers.map((c) => c.name).sort(), [`k3sbox-${env.id}-k8s-agent-1`, `k3sbox-${env.id}-k8s-agent-2`]);
      // The join token is a 0600 file, not on the command line.
      for (const c of containers) {
        const cmd = await docker(["inspect", "--format", "{{json .Config.Cmd}}", c.name]);
        assert.ok(!cmd.includes("K10"), "the token is not in the agent's command");
        const mode = await docker(["exec", c.name, "stat", "-c", "%a", AGENT_TOKEN_PATH]);
        assert.equal(mode.trim(), "600");
      }
    });

    t("a DaemonSet runs one pod on each node; pods on different nodes reach each other by pod IP", async ({ env, kubectl }) => {
      await env.svc.k8s.apply(echoDaemonSet(await bakedBusybox(TESTBED_IMAGE!)));
      const pods = await eventually("the echo DaemonSet's pods Running on three nodes", () => echoPods(env), 120_000, 500);
      assert.equal(new Set(pods.map((p) => p.node)).size, 3, `one pod per node: ${JSON.stringify(pods)}`);
      for (const from of pods) {
        for (const to of pods) {
          if (from === to) continue;
          const answer = await eventually(`${from.name} (${from.node}) → ${to.ip}:8080 (${to.node})`, async () => {
            const out = await kubectl("exec", from.name, "--", "nc", "-w", "3", to.ip, "8080");
            return out.trim() ? out.trim() : undefined;
          }, 30_000, 500).catch(async (e) => Promise.reject(new Error(`${(e as Error).message}\n${await podNetworkState(env)}`)));
          assert.equal(answer, to.name, `${from.node} → ${to.node} by pod IP reached ${to.name}`);
        }
      }
    }, LONG);

    t("a ClusterIP Service by DNS name from every node reaches pods on all three nodes; a Deployment with required anti-affinity spreads over them", async ({ env, kubectl }) => {
      await env.svc.k8s.apply(`
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ port: 8080, targetPort: 8080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: spread, namespace: default }
spec:
  replicas: 3
  selector: { matchLabels: { app: spread } }
  template:
    metadata: { labels: { app: spread } }
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{ operator: Exists, effect: NoSchedule }]
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - { topologyKey: kubernetes.io/hostname, labelSelector: { matchLabels: { app: spread } } }
      containers:
      - { name: c, image: ${await bakedBusybox(TESTBED_IMAGE!)}, imagePullPolicy: Never, command: ["sleep", "3600"] }
`);
      const pods = (await eventually("echo pods", () => echoPods(env), 60_000, 500));
      const svc = (await env.svc.k8s.client.core.readNamespacedService({ name: "echo", namespace: "default" })).unwrap();
      // CoreDNS answers from every node (busybox nslookup; the pods use the cluster DNS Service).
      for (const from of pods) {
        const ip = await eventually(`nslookup echo.default.svc.cluster.local on ${from.node}`, async () => {
          const out = await kubectl("exec", from.name, "--", "nslookup", "echo.default.svc.cluster.local");
          return out.includes(svc.spec!.clusterIP!) ? svc.spec!.clusterIP! : undefined;
        }, 60_000, 1_000).catch(async (e) => Promise.reject(new Error(`${(e as Error).message}\n${await podNetworkState(env)}`)));
        assert.equal(ip, svc.spec?.clusterIP);
      }
      // Through the ClusterIP, kube-proxy spreads connections over the three pods, two of them on other nodes.
      const seen = new Set<string>();
      const from = pods[0]!;
      for (let i = 0; i < 60 && seen.size < 3; i++) {
        const out = (await kubectl("exec", from.name, "--", "nc", "-w", "3", svc.spec!.clusterIP!, "8080").catch(() => "")).trim();
        if (out) seen.add(out);
      }
      assert.deepEqual([...seen].sort(), pods.map((p) => p.name).sort(), `answers through the Service from ${from.node}`);
      // By the Service's DNS name, from the pod on one agent to the pod on the other.
      const [a1, a2] = AGENT_NODES.map((n) => pods.find((p) => p.node === n)!);
      let byName = "";
      for (let i = 0; i < 60 && byName !== a2.name; i++) {
        byName = (await kubectl("exec", a1.name, "--", "nc", "-w", "3", "echo.default.svc.cluster.local", "8080").catch(() => "")).trim();
      }
      assert.equal(byName, a2.name, `${a1.node} → echo.default.svc.cluster.local reached the pod on ${a2.node}`);

      const spread = await eventually("the spread Deployment's three pods Running", async () => {
        const list = (await env.svc.k8s.client.core.listNamespacedPod({ namespace: "default", labelSelector: "app=spread" })).unwrap().items;
        const running = list.filter((p) => p.status?.phase === "Running");
        return running.length === 3 ? running.map((p) => p.spec!.nodeName!) : undefined;
      }, 90_000, 500);
      assert.equal(new Set(spread).size, 3, `one replica per node: ${spread.join(", ")}`);
      await kubectl("delete", "deployment", "spread", "--wait=false");
    }, LONG);

    t("an Ingress through Traefik reaches a pod on an agent; a local-path PVC binds on the other agent and its data lives in that node's container", async ({ env, kubectl }) => {
      const busybox = await bakedBusybox(TESTBED_IMAGE!);
      const [web, store] = AGENT_NODES;
      await env.svc.k8s.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: default }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector: { kubernetes.io/hostname: ${web} }
      tolerations: [{ operator: Exists }]
      containers:
      - name: web
        image: ${busybox}
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www && echo $(hostname) on $NODE > /www/index.html && exec httpd -f -p 8080 -h /www"]
        env: [{ name: NODE, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }]
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: default }
spec:
  rules:
  - host: web.${INGRESS_DOMAIN}
    http:
      paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: default }
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local-path
  resources: { requests: { storage: 16Mi } }
---
apiVersion: v1
kind: Pod
metadata: { name: writer, namespace: default }
spec:
  nodeSelector: { kubernetes.io/hostname: ${store} }
  restartPolicy: Never
  tolerations: [{ operator: Exists }]
  volumes: [{ name: data, persistentVolumeClaim: { claimName: data } }]
  containers:
  - { name: c, image: ${busybox}, imagePullPolicy: Never, command: ["sh", "-c", "echo ${loadedToken} > /data/token"], volumeMounts: [{ name: data, mountPath: /data }] }
`);
      // Traefik (wherever it runs) → the Service → the pod on the agent, over HTTPS with the environment's CA.
      const body = await eventually(`https://web.${INGRESS_DOMAIN}/ answered by the pod on ${web}`, async () => {
        const res = await env.fetch(`https://web.${INGRESS_DOMAIN}/`).catch(() => undefined);
        const text = res?.ok ? (await res.text()).trim() : undefined;
        return text?.endsWith(` on ${web}`) ? text : undefined;
      }, 120_000, 1_000);
      assert.match(body, new RegExp(`^web-[a-z0-9-]+ on ${web}$`));

      await eventually("the writer pod Succeeded", async () => {
        const p = (await env.svc.k8s.client.core.readNamespacedPod({ name: "writer", namespace: "default" })).unwrap();
        if (p.status?.phase === "Failed") throw new Error(`writer failed: ${JSON.stringify(p.status?.containerStatuses)}`);
        return p.status?.phase === "Succeeded" ? true : undefined;
      }, 120_000, 1_000);
      const pvc = (await env.svc.k8s.client.core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: "default" })).unwrap();
      assert.equal(pvc.status?.phase, "Bound");
      assert.equal(pvc.metadata?.annotations?.["volume.kubernetes.io/selected-node"], store, "bound for the node its pod runs on");
      const pv = (await env.svc.k8s.client.core.readPersistentVolume({ name: pvc.spec!.volumeName! })).unwrap();
      const term = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0];
      assert.deepEqual(term?.values, [store], "the volume is pinned to that node");
      // The data is in that agent's container, under the path the PV names, and not on the other nodes.
      const path = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
      assert.ok(path, `the PV names its directory: ${JSON.stringify(pv.spec)}`);
      for (const h of await env.svc.k8s.nodes()) {
        const r = await dockerResult(["exec", h.container, "cat", `${path}/token`]);
        if (h.name === store) assert.equal(r.stdout.trim(), loadedToken, `${path}/token on ${h.name}: ${r.stderr}`);
        else assert.notEqual(r.code, 0, `${h.name} has no ${path}/token`);
      }
      await kubectl("delete", "pod", "writer", "--wait=false");
      await kubectl("delete", "deployment", "web", "--wait=false");
    }, LONG);

    t("loadImages and `k3sbox load` load into every node: a pod pinned to each node runs the image with imagePullPolicy: Never", async ({ env, kubectl }) => {
      await ensureBusyboxImage();
      await docker(["build", "--quiet", "--tag", loadedTag, "-"], { stdin: `FROM ${BUSYBOX_IMAGE}\nRUN echo ${loadedToken} > /token\n`, timeoutMs: 120_000 });
      await env.svc.k8s.loadImages(loadedTag);
      const nodes = (await env.svc.k8s.client.core.listNode()).unwrap().items.map((n) => n.metadata!.name!);
      assert.equal(nodes.length, 3);
      await env.svc.k8s.apply(nodes.map((node, i) => `
apiVersion: v1
kind: Pod
metadata: { name: loaded-${i}, namespace: default }
spec:
  nodeName: ${node}
  restartPolicy: Never
  containers:
  - { name: c, image: ${loadedTag}, imagePullPolicy: Never, command: ["cat", "/token"] }
`).join("---\n"));
      for (let i = 0; i < nodes.length; i++) {
        await eventually(`pod loaded-${i} on ${nodes[i]} Succeeded`, async () => {
          const p = (await env.svc.k8s.client.core.readNamespacedPod({ name: `loaded-${i}`, namespace: "default" })).unwrap();
          if (p.status?.phase === "Failed") throw new Error(`loaded-${i} failed: ${JSON.stringify(p.status?.containerStatuses)}`);
          return p.status?.phase === "Succeeded" ? true : undefined;
        }, 60_000, 500);
        assert.equal((await kubectl("logs", `loaded-${i}`)).trim(), loadedToken);
      }
      // `k3sbox load --cluster <id>` loads into every node of that cluster too.
      const r = await k3sbox(["load", BUSYBOX_IMAGE, "--cluster", env.id, "--json"], { timeoutMs: 180_000 });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.envId, env.id);
      assert.deepEqual(out.container.split(", ").sort(), [`k3sbox-${env.id}-k8s`, `k3sbox-${env.id}-k8s-agent-1`, `k3sbox-${env.id}-k8s-agent-2`]);
      for (const h of await env.svc.k8s.nodes()) {
        const ls = await docker(["exec", h.container, "ctr", "--address", "/run/k3s/containerd/containerd.sock", "-n", "k8s.io", "images", "ls", "-q"]);
        assert.ok(ls.split("\n").includes(`docker.io/library/${BUSYBOX_IMAGE}`), `${h.name} has ${BUSYBOX_IMAGE}`);
      }
    }, LONG);

    t("nodes(): stopping an agent makes it NotReady and its pod (tolerationSeconds: 5) is recreated elsewhere; starting it makes it Ready again and reachable; pause and unpause likewise", async ({ env, kubectl }) => {
      const nodes = await env.svc.k8s.nodes();
      const server = (await env.svc.k8s.client.core.listNode({ labelSelector: "node-role.kubernetes.io/control-plane=true" })).unwrap().items[0]!;
      assert.deepEqual(nodes.map((n) => [n.role, n.name]), [["server", server.metadata!.name!], ["agent", "k8s-agent-1"], ["agent", "k8s-agent-2"]]);
      const [, paused, stopped] = nodes;
      // A pod that prefers the agent about to stop, and tolerates its loss for 5 s only.
      await env.svc.k8s.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: failover, namespace: default }
spec:
  replicas: 1
  selector: { matchLabels: { app: failover } }
  template:
    metadata: { labels: { app: failover } }
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - { key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5 }
      - { key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5 }
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference: { matchExpressions: [{ key: kubernetes.io/hostname, operator: In, values: [${stopped!.name}] }] }
      containers:
      - { name: c, image: ${await bakedBusybox(TESTBED_IMAGE!)}, imagePullPolicy: Never, command: ["sleep", "3600"] }
`);
      const failoverOn = () => eventually("the failover pod Running", async () => {
        const list = (await env.svc.k8s.client.core.listNamespacedPod({ namespace: "default", labelSelector: "app=failover" })).unwrap().items;
        const p = list.find((x) => x.status?.phase === "Running" && !x.metadata?.deletionTimestamp);
        return p?.spec?.nodeName;
      }, 60_000, 500);
      assert.equal(await failoverOn(), stopped!.name, "the failover pod starts on the node it prefers");
      await Promise.all([stopped!.stop(), paused!.pause()]);
      for (const n of [stopped!, paused!]) {
        await eventually(`${n.name} NotReady after ${n === stopped ? "stop" : "pause"}`, async () => (await readyStatus(env, n.name)) !== "True" ? true : undefined, (GRACE_SECS + 40) * 1000, 1_000);
      }
      // tolerationSeconds: 5 → evicted from the lost node and recreated on the server (the other agent is paused).
      const replaced = await eventually("the failover pod recreated on another node", async () => {
        const node = await failoverOn().catch(() => undefined);
        return node && node !== stopped!.name ? node : undefined;
      }, 90_000, 1_000);
      assert.notEqual(replaced, stopped!.name);
      await Promise.all([stopped!.start(), paused!.unpause()]);
      for (const n of [stopped!, paused!]) {
        await eventually(`${n.name} Ready again`, async () => (await readyStatus(env, n.name)) === "True" ? true : undefined, 120_000, 1_000);
      }
      // The restarted node's pod runs again (in a new sandbox, maybe with a
      // new IP: the status read before it was reported may be stale, so
      // each try reads it anew) and is reached by pod IP from the server's
      // node (the routes were rebuilt on both sides).
      let tried = "";
      const answer = await eventually(`the server's echo pod → the echo pod on ${stopped!.name} (restarted)`, async () => {
        const pods = await echoPods(env);
        const from = pods?.find((p) => p.node === server.metadata!.name);
        const to = pods?.find((p) => p.node === stopped!.name);
        if (!from || !to) return undefined;
        tried = `${from.name} → ${to.ip}:8080 (${to.name})`;
        const out = (await kubectl("exec", from.name, "--", "nc", "-w", "3", to.ip, "8080")).trim();
        return out === to.name ? out : undefined;
      }, 120_000, 1_000).catch((e) => Promise.reject(new Error(`${(e as Error).message}; last try: ${tried}`)));
      assert.match(answer, /^echo-/);
      // Killed outright, it is still removed by stop() (the teardown checks that nothing is left).
      await paused!.kill();
      const state = await docker(["inspect", "--format", "{{.State.Status}}", paused!.container]);
      assert.equal(state.trim(), "exited");
      const diagnostics = await env.diagnostics();
      assert.match(diagnostics, /k8s-agent-1: container exited \(exit 137\)/, diagnostics);
      assert.match(diagnostics, /k8s-agent-2: container running; Ready=True/, diagnostics);
    }, { timeoutMs: 400_000 });
  });
}
