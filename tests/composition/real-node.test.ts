// k3s()'s own definition, end to end through the runner, on the node image
// (testbed/image.sh): a real single-node cluster built from upstream sources
// — kubelet, containerd + runc, CNI bridge, kube-proxy (nftables), CoreDNS —
// with the library's real Traefik and registry Deployments on top; and the
// test-suite workflow on it: loadImages() and `k3sbox load` from the host's
// Docker into containerd, pods running those images with imagePullPolicy:
// Never, logs() of real containers, a rollout to a new ReplicaSet, a
// crash-looping rollout whose timeout shows the container's log tail, Jobs.
// One node for all of it: booting a node is most of this file's cost.
//
// The ONLY difference from real use is the image: the node image instead of
// rancher/k3s (which cannot be pulled here). The container is privileged as
// k3s() asks; on this host Docker refuses --privileged (no CAP_SYS_RESOURCE),
// so the runner's capability fallback runs it.
//
// The in-cluster images are stand-ins built from upstream modules under the
// references the manifests use (see testbed/parts.sh): Traefik is v3.6.12,
// the registry is distribution v3.1.2, whoami is a local stand-in.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { REGISTRY_DEPLOYMENT, REGISTRY_IMAGE, TRAEFIK_IMAGE } from "../../lib/k3s/manifests.ts";
import { AIRGAP_DIR, SEEDED_LIST } from "../../lib/k3s/node-images.ts";
import { allRecordedNeeds } from "../../lib/images/system-images.ts";
import { waitForDeployment } from "../../lib/k3s/setup.ts";
import { CONTAINERD_SOCKET, CRI_NAMESPACE, LoadImagesError } from "../../lib/k3s/load-images.ts";
import { WaitError } from "../../lib/kube/waits.ts";
import { demoManifest } from "../../lib/cli/smoke.ts";
import { docker } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { onlyUnder } from "../support/one-runtime.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { eventually } from "../support/eventually.ts";
import { kubectlWith } from "../support/kubectl.ts";
import { leftovers } from "../support/leftovers.ts";
import { k3sbox } from "../support/cli.ts";
import { runTag } from "../support/child-processes.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers>; db: ServiceDefinition }>;

const LONG = { timeoutMs: 180_000 };

/** A local image no registry has: busybox plus a token file. */
async function buildTokenImage(tag: string, token: string): Promise<void> {
  await docker(["build", "--quiet", "--tag", tag, "-"], {
    stdin: `FROM ${BUSYBOX_IMAGE}\nRUN echo ${token} > /token\nLABEL k3sbox.test-image=loaded\n`,
    timeoutMs: 120_000,
  });
}

function deployment(name: string, image: string, script: string) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: "app", image, imagePullPolicy: "Never", command: ["sh", "-c", script] }],
        },
      },
    },
  };
}


const notHere = onlyUnder("bun", "the real-node suite");
if (!TESTBED_IMAGE) {
  skip("real node tier", NO_IMAGE_REASON);
} else if (notHere) {
  skip("real node tier", notHere);
} else {
  const runId = runTag();
  const tags = { one: `k3sbox-test-loaded:${runId}-1`, two: `k3sbox-test-loaded:${runId}-2`, cli: `k3sbox-test-loaded:${runId}-cli` };
  suite("composition: k3s() on a real node (kubelet, containerd, CNI, kube-proxy, CoreDNS; image is the only difference)", {
    setupTimeoutMs: 300_000,
    setup: async () => {
      await ensureBusyboxImage();
      for (const [k, tag] of Object.entries(tags)) await buildTokenImage(tag, `token-${k}-${runId}`);
      const progress: string[] = [];
      const env: Env = await startEnvironment({
        services: {
          k8s: { ...k3s({ ingressDomains: ["example.test"] }), image: { type: "registry", reference: TESTBED_IMAGE! } },
          db: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 3600" },
        },
        onProgress: (m) => progress.push(m),
      });
      console.error(`  environment ${env.id} ready: ${JSON.stringify(env.timings)}`);
      const kubeconfig = await env.kubeconfigPath("k8s");
      const kubectl = kubectlWith(kubeconfig);
      return { env, progress, kubectl, pushed: [] as string[] };
    },
    teardown: async ({ env, pushed }) => {
      const id = env.services.k8s.containerId;
      await env.stop();
      for (const tag of [...pushed, ...Object.values(tags)]) await docker(["rmi", tag]).catch(() => {});
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves no container or network");
      // The kubelet's pod cgroups live below the node container's own cgroup
      // and go with it; mounts and veths lived in its namespaces.
      const cgroups = await run("sh", ["-c", `ls -d /sys/fs/cgroup/*/docker/${id}* 2>/dev/null; true`]);
      assert.equal(cgroups.stdout.trim(), "", "no cgroup directory of the node is left on the host");
      const mounts = await readFile("/proc/self/mountinfo", "utf8");
      assert.ok(!mounts.includes(id), "no mount of the node is left on the host");
    },
  }, (t) => {
    t("the privileged fallback is announced, and the node is a real kubelet on containerd", async ({ env, progress }) => {
      assert.ok(progress.some((m) => /privileged/i.test(m)), `progress names the privilege mode:\n${progress.join("\n")}`);
      const nodes = (await env.svc.k8s.client.core.listNode()).unwrap();
      assert.equal(nodes.items.length, 1);
      const node = nodes.items[0]!;
      assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? "", /^containerd:\/\//);
      assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
      assert.equal(node.metadata?.labels?.["node-role.kubernetes.io/control-plane"], "true");
    });

    t("setup's waits ran against the kubelet: Traefik, the registry, CoreDNS and local-path-provisioner run in containerd", async ({ env }) => {
      for (const [ns, name] of [["kube-system", "traefik"], ["kube-system", REGISTRY_DEPLOYMENT], ["kube-system", "coredns"], ["kube-system", "local-path-provisioner"]] as const) {
        await waitForDeployment("k8s", env.svc.k8s, { name, namespace: ns, timeoutMs: 60_000 });
      }
      const pods = (await env.svc.k8s.client.core.listNamespacedPod({ namespace: "kube-system" })).unwrap();
      for (const pod of pods.items) {
        assert.equal(pod.status?.phase, "Running", pod.metadata?.name);
        assert.match(pod.status?.containerStatuses?.[0]?.containerID ?? "", /^containerd:\/\//, pod.metadata?.name);
      }
    }, LONG);

    t("the node image's own images come in containerd's store: none is imported at start, one is unpacked only once a container uses it, and the cache records them as built in", async ({ env }) => {
      const node = env.services.k8s.containerId;
      const sh = async (script: string) => (await docker(["exec", node, "sh", "-c", script])).split("\n").map((l) => l.trim()).filter(Boolean);
      const seeded = await sh(`cat ${SEEDED_LIST}`);
      assert.ok(seeded.length >= 5, `the node image lists its images in ${SEEDED_LIST}: ${seeded.join(", ")}`);
      const own = (await sh(`ls -A ${AIRGAP_DIR}`)).filter((f) => !f.startsWith("k3sbox-"));
      assert.deepEqual(own, [], "no tarball of the node image's own is left to import at start");
      // REF TYPE DIGEST STATUS SIZE UNPACKED, one line per image.
      const unpacked = new Map((await sh(`ctr --address ${CONTAINERD_SOCKET} -n ${CRI_NAMESPACE} images check`)).slice(1).map((l) => {
        const cols = l.split(/\s+/);
        return [cols[0], cols[cols.length - 1] === "true"] as const;
      }));
      const used = new Set((await sh(`ctr --address ${CONTAINERD_SOCKET} -n ${CRI_NAMESPACE} containers list`)).slice(1).map((l) => l.split(/\s+/)[1]));
      for (const ref of seeded) assert.ok(unpacked.has(ref), `containerd has ${ref}`);
      for (const ref of seeded.filter((r) => used.has(r))) assert.equal(unpacked.get(ref), true, `${ref} runs in a container, so it was unpacked`);
      const idle = seeded.filter((r) => !used.has(r));
      assert.ok(idle.length > 0, "some image of the node's (whoami, busybox) is used by no container yet");
      for (const ref of idle) assert.equal(unpacked.get(ref), false, `${ref} is used by no container, so it is still packed`);
      const needs = (await allRecordedNeeds()).find((r) => r.nodeImage === TESTBED_IMAGE)?.needs;
      assert.ok(needs, `the cache has a record of ${TESTBED_IMAGE}'s needs`);
      for (const ref of [...needs.system, TRAEFIK_IMAGE, REGISTRY_IMAGE]) assert.ok(needs.builtIn.includes(ref), `${ref} is recorded as built in (${needs.builtIn.join(", ")})`);
    });

    t("an Ingress reaches a pod through real Traefik: HTTPS verified against the environment CA, and plain HTTP", async ({ env }) => {
      await env.svc.k8s.apply(demoManifest("hello.example.test"));
      await waitForDeployment("k8s", env.svc.k8s, { name: "hello", namespace: "default", timeoutMs: 60_000 });
      for (const url of ["https://hello.example.test/", "http://hello.example.test/"]) {
        const body = await eventually(`GET ${url}`, async () => {
          const res = await env.fetch(url);
          const text = await res.text();
          return res.status === 200 ? text : undefined;
        }, 30_000, 250);
        assert.match(body, /Hostname: hello-/, `${url}: whoami answered from its pod`);
      }
      const other = await env.fetch("https://nobody.example.test/");
      assert.equal(other.status, 404, "a host with no Ingress gets Traefik's 404 (same verified certificate)");
    }, LONG);

    t("the in-cluster registry: docker push to the published port, then containerd pulls <key>.internal:5000/…", async (ctx) => {
      const { env } = ctx;
      const tag = `127.0.0.1:${env.hostPort("k8s", 5000)}/k3sbox-test/busybox:${env.id}`;
      await docker(["tag", BUSYBOX_IMAGE, tag]);
      ctx.pushed.push(tag);
      await docker(["push", tag]);
      await env.svc.k8s.apply(`
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: default }
spec:
  containers:
  - name: sh
    image: k8s.internal:5000/k3sbox-test/busybox:${env.id}
    command: ["sh", "-c", "echo client-started; exec sleep 3600"]
`);
      const pod = await eventually("pod client Running", async () => {
        const p = (await env.svc.k8s.client.core.readNamespacedPod({ name: "client", namespace: "default" })).unwrap();
        return p.status?.phase === "Running" ? p : undefined;
      }, 60_000, 250);
      assert.match(pod.status?.containerStatuses?.[0]?.imageID ?? "", /k3sbox-test\/busybox@sha256:/);
    }, LONG);

    t("pod networking: a Service by DNS name, a peer's <key>.internal, kubectl logs and exec", async ({ env, kubectl }) => {
      assert.match(await kubectl("logs", "client"), /client-started/);
      // The pod resolves the Service's name through CoreDNS, then connects to
      // the ClusterIP (kube-proxy's nftables rules lead to the whoami pod).
      // busybox's nslookup and nc, not wget: the test image's busybox is
      // static glibc, whose NSS lookups (even of the "http" port) crash.
      const script = `ip=$(nslookup hello.default.svc.cluster.local | awk '/^Name:/{getline; print $2}'); echo "resolved $ip"; ` +
        `printf 'GET / HTTP/1.0\\r\\nHost: hello\\r\\n\\r\\n' | nc -w 3 "$ip" 80`;
      const page = await eventually("wget through the hello Service", async () => {
        const out = await kubectl("exec", "client", "--", "sh", "-c", script);
        return out.includes("Hostname:") ? out : undefined;
      }, 30_000, 250);
      const svc = (await env.svc.k8s.client.core.readNamespacedService({ name: "hello", namespace: "default" })).unwrap();
      assert.match(page, new RegExp(`^resolved ${svc.spec?.clusterIP?.replace(/\./g, "\\.")}$`, "m"), "the name resolved to the ClusterIP");
      assert.match(page, /Hostname: hello-/);
      const dbIp = env.services.db.ip;
      // NodeHosts reaches CoreDNS through the kubelet's ConfigMap sync.
      const answer = await eventually("nslookup db.internal", async () => {
        const out = await kubectl("exec", "client", "--", "nslookup", "db.internal");
        return out.includes(dbIp) ? out : undefined;
      }, 90_000, 250);
      assert.match(answer, new RegExp(dbIp.replace(/\./g, "\\.")));
    }, LONG);

    t("a missing image: the rollout wait times out with containerd's real pull error", async ({ env }) => {
      await env.svc.k8s.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: nopull, namespace: default }
spec:
  selector: { matchLabels: { app: nopull } }
  template:
    metadata: { labels: { app: nopull } }
    spec: { containers: [{ name: c, image: "k8s.internal:5000/k3sbox-test/absent:nope" }] }
`);
      await assert.rejects(
        waitForDeployment("k8s", env.svc.k8s, { name: "nopull", namespace: "default", timeoutMs: 10_000 }),
        (err: Error) => {
          assert.match(err.message, /ErrImagePull|ImagePullBackOff/);
          assert.match(err.message, /k3sbox-test\/absent:nope/);
          assert.match(err.message, /not found/i);
          return true;
        },
      );
    }, LONG);

    t("a PVC with no storageClassName binds through local-path-provisioner (the default class); a pod's file lands in the node's storage directory", async ({ env, kubectl }) => {
      const text = `written-by-pod-${env.id}`;
      await env.svc.k8s.apply(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: default }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 16Mi } }
---
apiVersion: v1
kind: Pod
metadata: { name: writer, namespace: default }
spec:
  volumes: [{ name: data, persistentVolumeClaim: { claimName: data } }]
  containers:
  - name: sh
    image: k8s.internal:5000/k3sbox-test/busybox:${env.id}
    command: ["sh", "-c", "echo ${text} > /data/file && cat /data/file && exec sleep 3600"]
    volumeMounts: [{ name: data, mountPath: /data }]
`);
      const core = env.svc.k8s.client.core;
      // WaitForFirstConsumer: the claim binds once the pod is scheduled and a
      // busybox helper pod has made the directory.
      const pvc = await eventually("PVC data Bound", async () => {
        const p = (await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: "default" })).unwrap();
        return p.status?.phase === "Bound" ? p : undefined;
      }, 90_000, 250);
      assert.equal(pvc.spec?.storageClassName, "local-path", "the default StorageClass was filled in");
      const pv = (await core.readPersistentVolume({ name: pvc.spec?.volumeName ?? "" })).unwrap();
      assert.equal(pv.metadata?.annotations?.["pv.kubernetes.io/provisioned-by"], "rancher.io/local-path");
      const dir = pv.spec?.hostPath?.path ?? "";
      assert.match(dir, /^\/var\/lib\/rancher\/k3s\/storage\/pvc-/);
      await eventually("pod writer Running", async () => {
        const p = (await core.readNamespacedPod({ name: "writer", namespace: "default" })).unwrap();
        return p.status?.phase === "Running" ? p : undefined;
      }, 60_000, 250);
      assert.equal((await kubectl("logs", "writer")).trim(), text);
      assert.equal((await kubectl("exec", "writer", "--", "cat", "/data/file")).trim(), text, "the pod reads its file back");
      // The file is on the provisioned volume, not in the container's own layer.
      const onNode = await docker(["exec", env.services.k8s.containerId, "cat", `${dir}/file`]);
      assert.equal(onNode.trim(), text, `the file is in ${dir} on the node`);
    }, LONG);

    t("loadImages: a locally built image runs with imagePullPolicy: Never, and logs() reads the real container", async ({ env }) => {
      const k8s = env.svc.k8s;
      const loaded = await k8s.loadImages(tags.one);
      assert.deepEqual(loaded, [{ reference: tags.one, name: `docker.io/library/${tags.one}` }]);
      await using ns = await k8s.namespace("load");
      await ns.apply(deployment("tok", tags.one, "cat /token; echo started; exec sleep 3600"));
      await ns.rollout("deployment/tok", { timeoutMs: 120_000 });
      // Ready (no probe) can come before the container's first lines reach its log file: read until "started" is there.
      const log = await eventually("the container's log to say started", async () => {
        const l = await ns.logs("app=tok");
        return l.endsWith("started\n") ? l : undefined;
      });
      assert.equal(log, `token-one-${runId}\nstarted\n`);
      const pod = (await k8s.client.core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=tok" })).unwrap().items[0];
      assert.equal(await ns.logs(pod.metadata!.name!, { tail: 1 }), "started\n");
      assert.match(pod.status!.containerStatuses![0].imageID, /^(docker\.io\/library\/k3sbox-test-loaded@)?sha256:[0-9a-f]{64}$/);
    }, LONG);

    t("apply a change and rollout() waits for the new ReplicaSet: the one live pod runs the new image", async ({ env }) => {
      const k8s = env.svc.k8s;
      await k8s.loadImages(tags.one, tags.two);
      await using ns = await k8s.namespace("change");
      await ns.apply(deployment("web", tags.one, "cat /token; exec sleep 3600"));
      await ns.rollout("deployment/web", { timeoutMs: 120_000 });
      await ns.apply(deployment("web", tags.two, "cat /token; exec sleep 3600"));
      const done = await ns.rollout("deployment/web", { timeoutMs: 120_000 });
      assert.equal(done.status.observedGeneration, 2);
      const pods = (await k8s.client.core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=web" })).unwrap().items
        .filter((p) => !p.metadata?.deletionTimestamp);
      assert.deepEqual(pods.map((p) => p.spec?.containers[0].image), [tags.two]);
      assert.equal(await eventually("the new pod's token in its log", async () => (await ns.logs(pods[0])) || undefined), `token-two-${runId}\n`);
    }, LONG);

    t("a rollout that can never finish (crash loop) times out with the failing container's log tail", async ({ env }) => {
      const k8s = env.svc.k8s;
      await k8s.loadImages(tags.one);
      await using ns = await k8s.namespace("crash");
      // Between crashes the container is Running (and, without a probe, Ready) for an instant;
      // minReadySeconds keeps such an instant from counting as available, as in a real rollout gate.
      const crash = deployment("crash", tags.one, "echo 'fatal: no config at /etc/app.yaml' >&2; exit 3");
      await ns.apply({ ...crash, spec: { ...crash.spec, minReadySeconds: 30 } });
      // On a loaded machine the first start can take longer than the 15 s deadline below; the
      // report is only about a container that has crashed, so the deadline starts after the first crash.
      await eventually("the crash container's first exit", async () => {
        const pods = await k8s.client.core.listNamespacedPod({ namespace: ns.name });
        const s = pods.items[0]?.status?.containerStatuses?.[0];
        return (s?.lastState?.terminated ?? s?.state?.terminated) ? true : undefined;
      }, 120_000, 250);
      const t0 = Date.now();
      await assert.rejects(ns.rollout("deployment/crash", { timeoutMs: 15_000 }), (err: unknown) => {
        assert.ok(err instanceof WaitError);
        console.error(`  (timeout report)\n${err.message.split("\n").map((l) => `    ${l}`).join("\n")}`);
        assert.match(err.message, new RegExp(`^rollout of deployment ${ns.name}/crash: not complete within 15s \\(last seen: 0 of 1 updated replicas available\\)`));
        // The deadline may fall while the container waits (CrashLoopBackOff), has just died (Error),
        // or has just been restarted (running; the last instance's end is on its line).
        assert.match(err.message, /reasons=(CrashLoopBackOff|Error)|\(restarts: \d+, last ended: Error exit 3\)/);
        assert.match(err.message, /app log( \(previous instance\))?, last 20 lines:\n {6}\| fatal: no config at \/etc\/app\.yaml/);
        return true;
      });
      assert.ok(Date.now() - t0 < 35_000, "kept its deadline");
      const report = await env.diagnostics();
      assert.match(report, /^== service k8s ==\n/);
      assert.match(report, new RegExp(`${ns.name} pods \\(1\\):\\n {2}crash-`));
      assert.match(report, /\| fatal: no config at \/etc\/app\.yaml/);
      assert.match(report, /== timeline( \(last \d+ of \d+\))? ==\n(.*\n)*get deployments · [a-z0-9-]+\/crash 200/);
    }, LONG);

    t("waitFor(job, \"Complete\"): a Job that completes returns; one that fails stops the wait at once with its pod's log tail", async ({ env }) => {
      const k8s = env.svc.k8s;
      await k8s.loadImages(tags.one);
      await using ns = await k8s.namespace("job");
      const job = (name: string, script: string) => ({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name },
        spec: {
          backoffLimit: 0,
          template: { spec: { restartPolicy: "Never", containers: [{ name: "task", image: tags.one, imagePullPolicy: "Never", command: ["sh", "-c", script] }] } },
        },
      });
      await ns.apply([job("ok", "cat /token"), job("bad", "echo 'migration 7 failed: table exists' >&2; exit 4")]);
      const done = await ns.waitFor<{ status: { succeeded?: number } }>("job/ok", "Complete", { timeoutMs: 90_000 });
      assert.equal(done.status.succeeded, 1);
      assert.equal(await ns.logs("job-name=ok"), `token-one-${runId}\n`);
      const t0 = Date.now();
      await assert.rejects(ns.waitFor("job/bad", "Complete", { timeoutMs: 90_000 }), (err: unknown) => {
        assert.ok(err instanceof WaitError);
        assert.equal(err.timedOut, false, "a failed Job ends the wait; it does not run into the deadline");
        assert.match(err.message, new RegExp(`^waiting for job ${ns.name}/bad to be Complete: it failed for good \\(.*Failed=True`));
        assert.match(err.message, /task log, last 20 lines:\n {6}\| migration 7 failed: table exists/);
        return true;
      });
      assert.ok(Date.now() - t0 < 60_000, "well before the 90 s deadline");
    }, LONG);

    t("`k3sbox load <image> --cluster <id>` loads into a cluster another process started", async ({ env }) => {
      const r = await k3sbox(["load", tags.cli, "--cluster", env.id, "--json"], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.envId, env.id);
      assert.deepEqual(out.images, [{ reference: tags.cli, name: `docker.io/library/${tags.cli}` }]);
      const ls = await docker(["exec", env.services.k8s.containerId, "ctr", "--address", "/run/k3s/containerd/containerd.sock", "-n", "k8s.io", "images", "ls", "-q"]);
      assert.ok(ls.split("\n").includes(`docker.io/library/${tags.cli}`));
      const absent = await k3sbox(["load", "k3sbox-test-absent:never", "--cluster", env.id]);
      assert.equal(absent.code, 1);
      assert.match(absent.stderr, /"k3sbox-test-absent:never" is not in the host's Docker; build or pull it first/);
    }, LONG);

    t("loadImages: a bad reference fails before anything runs; a missing image is named", async ({ env }) => {
      const k8s = env.svc.k8s;
      await assert.rejects(k8s.loadImages(), /give at least one image reference/);
      await assert.rejects(k8s.loadImages("Bad Ref"), /argument 1 must be an image reference such as "app:dev"/);
      await assert.rejects(k8s.loadImages(tags.one, "k3sbox-test-absent:never"), (err: unknown) => {
        assert.ok(err instanceof LoadImagesError);
        assert.equal(err.message, `loadImages(): "k3sbox-test-absent:never" is not in the host's Docker; build or pull it first (\`docker images\` lists what is there)`);
        return true;
      });
    });
  });
}
