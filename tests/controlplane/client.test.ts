// The k3sbox client, apply, the k3s setup and its waits against a real
// kube-apiserver (upstream v1.35 built from source, with etcd, the
// controller-manager, the scheduler, and kwok playing the kubelet for one
// fake Node so Deployments become Ready).

import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite } from "../harness.ts";
import { readTag } from "../../lib/provenance.ts";
import { ApplyError } from "../../lib/kube/apply.ts";
import { createKubeHelpers, type KubeHelpers, loadKubeconfig } from "../../lib/kube/client.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { WatchStalledError } from "../../lib/kube/watch.ts";
import { REGISTRY_DEPLOYMENT, TRAEFIK_DYNAMIC_CONFIGMAP, TRAEFIK_TLS_SECRET } from "../../lib/k3s/manifests.ts";
import { collectDiagnostics, nodeHostsEntries, registerPeersInCoreDns, setupK3sCluster, waitForDeployment } from "../../lib/k3s/setup.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { run } from "../../lib/exec.ts";
import { Recorder } from "../../lib/recorder.ts";
import { type ControlPlane, NO_TESTBED_REASON, startControlPlane, TESTBED_BIN } from "../support/controlplane.ts";

interface Fixture {
  cp: ControlPlane;
  h: KubeHelpers;
  recorder: Recorder;
}

const ns = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;

/** Pods need the namespace's default ServiceAccount, which a controller creates shortly after. */
async function waitForDefaultServiceAccount(h: KubeHelpers, namespace: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      await h.client.core.readNamespacedServiceAccount({ name: "default", namespace });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function deployment(name: string, namespace: string, extraPodSpec: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "example.test/app:1" }], ...extraPodSpec } },
    },
  });
}

if (!TESTBED_BIN) {
  skip("control plane tier", NO_TESTBED_REASON);
} else {
  suite("control plane tier (real kube-apiserver, etcd, controller-manager, scheduler, kwok)", {
    setupTimeoutMs: 120_000,
    setup: async (): Promise<Fixture> => {
      const cp = await startControlPlane();
      console.error(`  control plane ready after ${cp.readyAfterMs} ms`);
      const recorder = new Recorder();
      const h = await createKubeHelpers(await loadKubeconfig(cp.kubeconfigYaml), { recorder });
      return { cp, h, recorder };
    },
    teardown: async (f) => {
      await f.h.close();
      await f.cp.stop();
    },
  }, (t) => {
    t("lists the fake node, which kwok keeps Ready; results carry their event's tag", async ({ h, recorder }) => {
      const deadline = Date.now() + 30_000;
      while (true) {
        const nodes = await h.client.core.listNode();
        const ready = nodes.items[0]?.status?.conditions?.find((c) => c.type === "Ready")?.status;
        if (ready === "True") {
          assert.equal(nodes.items[0].metadata?.name, "k3sbox-node");
          assert.equal(nodes.items[0].spec?.taints, undefined);
          const ev = recorder.events().at(-1)!;
          assert.equal(readTag(nodes)?.sourceSeq, ev.seq);
          assert.equal(ev.kube?.verb, "list");
          return;
        }
        assert.ok(Date.now() < deadline, `node not Ready: ${JSON.stringify(nodes.items[0]?.status?.conditions)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    });

    t("create, read, patch, delete; 404 and 409 come back as clear errors", async ({ h }) => {
      await h.apply(ns("crud"));
      const body = { metadata: { name: "settings", namespace: "crud" }, data: { color: "blue" } };
      const created = await h.client.core.createNamespacedConfigMap({ namespace: "crud", body });
      assert.ok(created.metadata?.uid);
      await assert.rejects(h.client.core.createNamespacedConfigMap({ namespace: "crud", body }), (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.code, 409);
        assert.equal(err.message, 'create configmaps · crud/settings: 409 AlreadyExists: configmaps "settings" already exists');
        return true;
      });
      const patched = await h.client.core.patchNamespacedConfigMap({
        name: "settings",
        namespace: "crud",
        body: [{ op: "replace", path: "/data/color", value: "green" }],
      });
      assert.equal(patched.data?.color, "green");
      assert.equal((await h.client.core.readNamespacedConfigMap({ name: "settings", namespace: "crud" })).data?.color, "green");
      await h.client.core.deleteNamespacedConfigMap({ name: "settings", namespace: "crud" });
      await assert.rejects(h.client.core.readNamespacedConfigMap({ name: "settings", namespace: "crud" }), (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.code, 404);
        assert.equal(err.reason, "NotFound");
        assert.match(err.message, /^get configmaps · crud\/settings: 404 NotFound: configmaps "settings" not found$/);
        return true;
      });
    });

    t("watch streams MODIFIED and ADDED events over the mTLS transport", async ({ h, recorder }) => {
      await h.apply(ns("watched"));
      const labels = { "k3sbox.test/watch": "yes" };
      const first = await h.client.core.createNamespacedConfigMap({ namespace: "watched", body: { metadata: { name: "w1", labels }, data: { a: "1" } } });
      // Watching from w1's resourceVersion replays every later change, however
      // late the stream opens: no sleep, no race.
      const seen: string[] = [];
      const watching = h.client.watch<{ metadata: { name: string } }>("/api/v1/namespaces/watched/configmaps", (e) => {
        seen.push(`${e.type} ${e.object.metadata.name}`);
        return seen.length < 2;
      }, { timeoutSeconds: 20, query: { labelSelector: "k3sbox.test/watch=yes", resourceVersion: first.metadata!.resourceVersion! } });
      await h.client.core.patchNamespacedConfigMap({ name: "w1", namespace: "watched", body: [{ op: "add", path: "/data/b", value: "2" }] });
      await h.client.core.createNamespacedConfigMap({ namespace: "watched", body: { metadata: { name: "w2", labels }, data: {} } });
      await watching;
      assert.deepEqual(seen, ["MODIFIED w1", "ADDED w2"]);
      assert.match(recorder.timeline(), /watch configmaps · watched 200/);
    });

    t("apply: multi-document YAML with a CRD and a custom resource, in one manifest", async ({ h, recorder }) => {
      const before = recorder.events().length;
      const created = await h.apply(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.k3sbox.test
spec:
  group: k3sbox.test
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, properties: { size: { type: integer } } }
---
---
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: k3sbox.test/v1
kind: Widget
metadata: { name: gizmo, namespace: shop }
spec: { size: 3 }
`);
      assert.deepEqual(created.map((o) => o.kind), ["CustomResourceDefinition", "Namespace", "Widget"]);
      const widget = await h.client.objects.read({ apiVersion: "k3sbox.test/v1", kind: "Widget", metadata: { name: "gizmo", namespace: "shop" } });
      assert.equal((widget as unknown as { spec: { size: number } }).spec.size, 3);
      const lines = recorder.events().slice(before).map((e) => `${e.kube?.verb ?? e.method} ${e.kube?.resource ?? e.url}`);
      assert.ok(lines.includes("apply customresourcedefinitions"));
      assert.ok(lines.includes("apply widgets"));
      assert.ok(!lines.some((l) => /\/apis\/k3sbox\.test\/v1$/.test(l)), "discovery calls are retracted");
    }, { timeoutMs: 60_000 });

    t("apply reports which document failed and why", async ({ h }) => {
      await assert.rejects(
        h.apply(`${ns("bad-apply")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-valid, namespace: bad-apply}\ndata: {"bad key!": x}\n`),
        (err: unknown) => {
          assert.ok(err instanceof ApplyError);
          assert.equal(err.documentIndex, 2);
          assert.match(err.message, /^apply: document 2 \(ConfigMap bad-apply\/not-valid\): apply configmaps · bad-apply\/not-valid: 422 Invalid: .*bad key!/);
          return true;
        },
      );
    });

    t("k3s setup: TLS secret, Traefik and registry accepted by the API server, both rollouts Ready", async ({ h }) => {
      const ca = await generateCa();
      const progress: string[] = [];
      await setupK3sCluster("k8s", h, { registry: true, ingressDomains: ["example.test"] }, {
        issueCertificate: async (names) => {
          const leaf = await issueLeaf(ca, { names });
          return { certPem: leaf.certPem, keyPem: leaf.keyPem };
        },
        progress: (m) => progress.push(m),
      });
      const secret = await h.client.core.readNamespacedSecret({ name: TRAEFIK_TLS_SECRET, namespace: "kube-system" });
      assert.equal(secret.type, "kubernetes.io/tls");
      const certPem = Buffer.from(secret.data!["tls.crt"], "base64").toString();
      assert.match(certPem, /BEGIN CERTIFICATE/);
      const cm = await h.client.core.readNamespacedConfigMap({ name: TRAEFIK_DYNAMIC_CONFIGMAP, namespace: "kube-system" });
      assert.match(cm.data!["tls.yaml"], /defaultCertificate/);
      for (const name of ["traefik", REGISTRY_DEPLOYMENT]) {
        const dep = await h.client.apps.readNamespacedDeployment({ name, namespace: "kube-system" });
        assert.equal(dep.status?.readyReplicas, 1, name);
      }
      const classes = await h.client.objects.list("networking.k8s.io/v1", "IngressClass");
      assert.equal(classes.items[0].metadata?.annotations?.["ingressclass.kubernetes.io/is-default-class"], "true");
    }, { timeoutMs: 150_000 });

    t("a Deployment that can never be Ready times out with pod states and warning events", async ({ h }) => {
      await h.apply(ns("stuck"));
      await waitForDefaultServiceAccount(h, "stuck");
      await h.apply(deployment("stuck", "stuck", { nodeSelector: { "k3sbox.test/nowhere": "true" } }));
      const t0 = Date.now();
      await assert.rejects(waitForDeployment("k8s", h, { name: "stuck", namespace: "stuck", timeoutMs: 4_000 }), (err: unknown) => {
        const m = (err as Error).message;
        console.error(`  (timeout report)\n${m.split("\n").map((l) => `    ${l}`).join("\n")}`);
        assert.match(m, /^k3s\(k8s\): Deployment stuck\/stuck was not Ready within 4s \(last seen: 0 of 1 updated replicas available\)/);
        assert.match(m, /stuck pods matching app=stuck \(1\):\n {2}stuck-[a-z0-9]+-[a-z0-9]+: phase=Pending unschedulable: /);
        assert.match(m, /Warning events .*\n.*\[FailedScheduling\] .*node\(s\) didn't match Pod's node affinity\/selector/);
        return true;
      });
      assert.ok(Date.now() - t0 < 20_000);
    }, { timeoutMs: 40_000 });

    t("diagnostics report a container's waiting reason and message", async ({ h }) => {
      // kwok leaves containers alone unless told; a pod whose status we write
      // ourselves stands in for a kubelet's ErrImagePull report.
      await h.apply(ns("diag"));
      await waitForDefaultServiceAccount(h, "diag");
      await h.client.core.createNamespacedPod({ namespace: "diag", body: { metadata: { name: "pull-fails" }, spec: { nodeName: "nowhere", containers: [{ name: "app", image: "x/y:z" }] } } });
      await h.client.core.replaceNamespacedPodStatus({
        name: "pull-fails",
        namespace: "diag",
        body: {
          metadata: { name: "pull-fails", namespace: "diag" },
          status: { phase: "Pending", containerStatuses: [{ name: "app", image: "x/y:z", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason: "ErrImagePull", message: "failed to pull x/y:z: 429 Too Many Requests" } } }] },
        } as never,
      });
      const report = await collectDiagnostics(h, "diag");
      assert.match(report, /pull-fails: phase=Pending reasons=ErrImagePull/);
      assert.match(report, /app: failed to pull x\/y:z: 429 Too Many Requests/);
    });

    t("peers are added to CoreDNS NodeHosts, once, keeping k3s's own entry", async ({ h }) => {
      const peers = [{ key: "db", host: "db.internal", ip: "172.30.0.5" }];
      await registerPeersInCoreDns(h, nodeHostsEntries(peers));
      await registerPeersInCoreDns(h, nodeHostsEntries(peers));
      const cm = await h.client.core.readNamespacedConfigMap({ name: "coredns", namespace: "kube-system" });
      const lines = cm.data!.NodeHosts.trim().split("\n");
      assert.ok(lines.some((l) => l.endsWith(" k3sbox-node")), lines.join(" | "));
      assert.deepEqual(lines.filter((l) => l.includes("db.internal")), ["172.30.0.5 db.internal db"]);
    });

    t("the timeline reads as kube events", ({ recorder }) => {
      const tl = recorder.timeline();
      assert.match(tl, /^list nodes 200 \d+ms$/m);
      assert.match(tl, /^apply namespaces · crud 201 \d+ms$/m);
      assert.match(tl, /^patch configmaps · crud\/settings 200 \d+ms$/m);
      assert.match(tl, /^delete configmaps · crud\/settings 200 \d+ms$/m);
      assert.match(tl, /^get configmaps · crud\/settings 404 \d+ms$/m);
      assert.doesNotMatch(tl, /^GET \S+\/apis?(\/[^/\s]+){0,2} /m, "no discovery rows");
    });

    t("kubectl accepts the kubeconfig k3sbox writes (0600) and verifies the server", async ({ h }) => {
      const dir = await mkdtemp(join(tmpdir(), "k3sbox-kubectl-"));
      try {
        const path = join(dir, "config.yaml");
        await writeFile(path, h.kubeconfig.exportConfig(), { mode: 0o600 });
        assert.equal((await stat(path)).mode & 0o777, 0o600);
        const r = await run("kubectl", ["--kubeconfig", path, "get", "nodes", "-o", "name"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), "node/k3sbox-node");
        const widgets = await run("kubectl", ["--kubeconfig", path, "get", "widgets", "-n", "shop", "-o", "jsonpath={.items[*].metadata.name}"]);
        assert.equal(widgets.stdout, "gizmo");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    t("watch: a quiet stream on the real API server outlasts idleTimeoutMs (the liveness check answers) and the server ends it at timeoutSeconds", async ({ h }) => {
      await h.apply(ns("quiet"));
      const t0 = performance.now();
      const seen: string[] = [];
      await h.client.watch<{ metadata: { name: string } }>("/api/v1/namespaces/quiet/configmaps", (e) => void seen.push(`${e.type} ${e.object.metadata.name}`), {
        idleTimeoutMs: 500,
        timeoutSeconds: 3,
      });
      const ms = performance.now() - t0;
      assert.ok(seen.every((s) => s.startsWith("ADDED ")), seen.join(", ")); // the initial state only (kube-root-ca.crt)
      assert.ok(ms >= 2_900, `ended after ${Math.round(ms)} ms: the server ends it at 3 s, not the client at 0.5 s`);
      assert.ok(ms < 3_000 + 1_000, `ended after ${Math.round(ms)} ms`);
    });

    // Last: the control plane is frozen for a moment.
    t("watch: the real API server frozen (SIGSTOP on the control-plane process tree) ends the watch after idleTimeoutMs and a failed liveness check, naming the path", async ({ cp, h }) => {
      const path = "/api/v1/namespaces/quiet/configmaps";
      let first!: () => void;
      const opened = new Promise<void>((r) => (first = r));
      const watching = h.client.watch(path, () => first(), { idleTimeoutMs: 1_000 }).then(() => assert.fail("must reject"), (e: Error) => e);
      await opened; // kube-root-ca.crt's ADDED: the stream is open
      const t0 = performance.now(); // the last byte came just before
      cp.signal("SIGSTOP");
      try {
        const err = await watching;
        const ms = performance.now() - t0;
        assert.ok(err instanceof WatchStalledError, `${err.name}: ${err.message}`);
        assert.match(err.message, new RegExp(`^watch ${path}: no event or byte for 1 s and the API server did not answer a liveness check \\(GET /version\\) within 2 s`));
        assert.ok(ms < 3_000 + 1_000, `ended after ${Math.round(ms)} ms: idle 1 s + a 2 s liveness check`);
      } finally {
        cp.signal("SIGCONT");
      }
      const deadline = Date.now() + 30_000;
      while (await h.client.core.listNamespace().then(() => false, () => Date.now() < deadline)) await new Promise((r) => setTimeout(r, 200));
    }, { timeoutMs: 60_000 });
  });
}
