// API aggregation on the real node: the node's kube-apiserver is configured
// as k3s configures it (a request-header CA of its own, the front proxy's
// client certificate with CN system:auth-proxy, the X-Remote-* headers), so
// kube-system/extension-apiserver-authentication carries the request-header
// settings and an aggregated API server trusts the identity the main
// apiserver forwards.
//
// The aggregated server is k8s.io/sample-apiserver, built from its module
// (testbed/sample-apiserver.sh; scripts/setup.sh --tests exports its path as
// K3SBOX_SAMPLE_APISERVER), in an image of its own with the testbed's etcd
// beside it, loaded into the node with loadImages() — the pod shape
// Kubernetes' conformance suite uses. Its serving certificate comes from a
// CA minted here and is verified by the main apiserver (caBundle), not
// skipped.

import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { loadX509 } from "../../deps.ts";
import { docker } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_BIN, TESTBED_IMAGE } from "../support/controlplane.ts";
import { eventually } from "../support/eventually.ts";
import { kubectlBin, kubectlWith } from "../support/kubectl.ts";
import { leftovers } from "../support/leftovers.ts";
import { runTag } from "../support/child-processes.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;

const SAMPLE_APISERVER = process.env.K3SBOX_SAMPLE_APISERVER;
const LONG = { timeoutMs: 180_000 };

/** FROM scratch: the sample-apiserver and etcd binaries (both static). */
async function buildSampleImage(tag: string, sampleBin: string, etcdBin: string): Promise<void> {
  const ctx = await mkdtemp(join(tmpdir(), "k3sbox-sample-apiserver-"));
  try {
    await copyFile(sampleBin, join(ctx, "sample-apiserver"));
    await copyFile(etcdBin, join(ctx, "etcd"));
    await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY sample-apiserver etcd /\nLABEL k3sbox.test-image=sample-apiserver\n");
    await docker(["build", "--quiet", "--tag", tag, ctx], { timeoutMs: 180_000 });
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/** The sample-apiserver's objects, following its own artifacts/example. */
function sampleApiserverManifest(image: string, certPem: string, keyPem: string, caPem: string): string {
  const indent = (pem: string) => pem.trim().split("\n").map((l) => `    ${l}`).join("\n");
  const caBundle = Buffer.from(caPem).toString("base64");
  return `
apiVersion: v1
kind: Namespace
metadata: { name: wardle }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: apiserver, namespace: wardle }
---
apiVersion: v1
kind: Secret
metadata: { name: serving, namespace: wardle }
type: kubernetes.io/tls
stringData:
  tls.crt: |
${indent(certPem)}
  tls.key: |
${indent(keyPem)}
---
# Reads the request-header and client CAs from extension-apiserver-authentication.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: wardle-auth-reader, namespace: kube-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader }
subjects: [{ kind: ServiceAccount, name: apiserver, namespace: wardle }]
---
# Delegates authentication and authorization (TokenReview, SubjectAccessReview).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: wardle:system:auth-delegator }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator }
subjects: [{ kind: ServiceAccount, name: apiserver, namespace: wardle }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: wardle-apiserver }
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, watch, list]
- apiGroups: [admissionregistration.k8s.io]
  resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations, validatingadmissionpolicies, validatingadmissionpolicybindings]
  verbs: [get, watch, list]
- apiGroups: [flowcontrol.apiserver.k8s.io]
  resources: [prioritylevelconfigurations, flowschemas]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: wardle-apiserver }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: wardle-apiserver }
subjects: [{ kind: ServiceAccount, name: apiserver, namespace: wardle }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: wardle-server, namespace: wardle }
spec:
  replicas: 1
  selector: { matchLabels: { apiserver: "true" } }
  template:
    metadata: { labels: { apiserver: "true" } }
    spec:
      serviceAccountName: apiserver
      terminationGracePeriodSeconds: 1
      volumes:
      - { name: serving, secret: { secretName: serving } }
      - { name: data, emptyDir: {} }
      containers:
      - name: wardle-server
        image: ${image}
        imagePullPolicy: Never
        command:
        - /sample-apiserver
        - --etcd-servers=http://127.0.0.1:2379
        - --secure-port=8443
        - --tls-cert-file=/serving/tls.crt
        - --tls-private-key-file=/serving/tls.key
        volumeMounts: [{ name: serving, mountPath: /serving, readOnly: true }]
      - name: etcd
        image: ${image}
        imagePullPolicy: Never
        command: [/etcd, --data-dir=/data/etcd, --listen-client-urls=http://127.0.0.1:2379, --advertise-client-urls=http://127.0.0.1:2379, --listen-peer-urls=http://127.0.0.1:2380]
        volumeMounts: [{ name: data, mountPath: /data }]
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: wardle }
spec:
  selector: { apiserver: "true" }
  ports: [{ port: 443, targetPort: 8443, protocol: TCP }]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: { name: v1alpha1.wardle.example.com }
spec:
  group: wardle.example.com
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: ${caBundle}
  service: { name: api, namespace: wardle, port: 443 }
---
# alice may use flunders in default: both the main apiserver (RBAC) and the
# aggregated server (SubjectAccessReview for the forwarded identity) allow it.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: flunder-user }
rules:
- apiGroups: [wardle.example.com]
  resources: [flunders]
  verbs: [get, list, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: alice-flunders, namespace: default }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: flunder-user }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: alice }]
`;
}

if (!TESTBED_IMAGE) {
  skip("API aggregation on the real node", NO_IMAGE_REASON);
} else {
  const sampleTag = `k3sbox-test-sample-apiserver:${runTag()}`;
  suite("composition: API aggregation on the real node (front proxy with its own CA, as in k3s)", {
    setupTimeoutMs: 300_000,
    setup: async () => {
      const env: Env = await startEnvironment({
        services: { k8s: { ...k3s(), image: { type: "registry", reference: TESTBED_IMAGE! } } },
      });
      const kubeconfig = await env.kubeconfigPath("k8s");
      const kubectl = kubectlWith(kubeconfig);
      return { env, kubectl, built: false };
    },
    teardown: async ({ env, built }) => {
      await env.stop();
      if (built) await docker(["rmi", sampleTag]).catch(() => {});
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves no container or network");
    },
  }, (t) => {
    t("extension-apiserver-authentication carries the request-header CA (not the cluster CA), the allowed name and the headers", async ({ env }) => {
      const cm = (await env.svc.k8s.client.core.readNamespacedConfigMap({ name: "extension-apiserver-authentication", namespace: "kube-system" })).unwrap();
      const data = cm.data ?? {};
      assert.ok(data["client-ca-file"], "client-ca-file is there");
      const rhCa = data["requestheader-client-ca-file"];
      assert.ok(rhCa, `requestheader-client-ca-file is there (keys: ${Object.keys(data).join(", ")})`);
      assert.notEqual(rhCa.trim(), data["client-ca-file"]!.trim(), "the front proxy has a CA of its own");
      const x509 = await loadX509();
      const cert = new x509.X509Certificate(rhCa);
      assert.match(cert.subject, /CN=k3s-request-header-ca@\d+/);
      assert.deepEqual(JSON.parse(data["requestheader-allowed-names"] ?? "null"), ["system:auth-proxy"]);
      assert.deepEqual(JSON.parse(data["requestheader-username-headers"] ?? "null"), ["X-Remote-User"]);
      assert.deepEqual(JSON.parse(data["requestheader-group-headers"] ?? "null"), ["X-Remote-Group"]);
      assert.deepEqual(JSON.parse(data["requestheader-extra-headers-prefix"] ?? "null"), ["X-Remote-Extra-"]);
    });

    if (!SAMPLE_APISERVER || !TESTBED_BIN) {
      skip(
        "an aggregated API server (k8s.io/sample-apiserver) becomes Available",
        "K3SBOX_SAMPLE_APISERVER or K3SBOX_TESTBED_BIN is not set: run scripts/setup.sh --tests, which builds it (or export K3SBOX_SAMPLE_APISERVER=$(bash testbed/sample-apiserver.sh))",
      );
      return;
    }

    t("an aggregated API server (k8s.io/sample-apiserver) becomes Available; its group answers through the main apiserver with the caller's identity", async (fx) => {
      const { env, kubectl } = fx;
      await buildSampleImage(sampleTag, SAMPLE_APISERVER, `${TESTBED_BIN}/etcd`);
      fx.built = true;
      await env.svc.k8s.loadImages(sampleTag);
      const ca = await generateCa({ commonName: "wardle test CA" });
      const leaf = await issueLeaf(ca, { names: ["api.wardle.svc", "api.wardle.svc.cluster.local"] });
      await env.svc.k8s.apply(sampleApiserverManifest(sampleTag, leaf.chainPem, leaf.keyPem, ca.certPem));

      // Before the fix the condition stayed False: FailedDiscoveryCheck … 403.
      let last = "";
      await eventually("APIService v1alpha1.wardle.example.com Available", async () => {
        const out = JSON.parse(await kubectl("get", "apiservice", "v1alpha1.wardle.example.com", "-o", "json"));
        const available = (out.status?.conditions ?? []).find((c: { type: string }) => c.type === "Available");
        last = JSON.stringify(available);
        return available?.status === "True" ? true : undefined;
      }, 150_000, 1_000).catch(async (err) => {
        const logs = await kubectl("logs", "-n", "wardle", "deploy/wardle-server", "-c", "wardle-server", "--tail=30").catch((e) => String(e));
        throw new Error(`${(err as Error).message}\nlast condition: ${last}\nsample-apiserver log tail:\n${logs}`);
      });

      // Discovery through the main apiserver lists the aggregated group.
      const groups = JSON.parse(await kubectl("get", "--raw", "/apis/wardle.example.com/v1alpha1"));
      assert.ok(groups.resources.some((r: { name: string }) => r.name === "flunders"), JSON.stringify(groups));

      // alice (impersonated by the admin) creates and lists flunders: the
      // main apiserver forwards her name in X-Remote-User over the front
      // proxy's certificate, and the sample-apiserver authorizes her with a
      // SubjectAccessReview. Without that identity it sees no user and
      // refuses (403), as before the front proxy existed.
      const flunder = JSON.stringify({ apiVersion: "wardle.example.com/v1alpha1", kind: "Flunder", metadata: { name: "first", namespace: "default" } });
      const created = await run(kubectlBin, ["--kubeconfig", await env.kubeconfigPath("k8s"), "--as=alice", "-n", "default", "create", "-f", "-", "-o", "name"], { stdin: flunder, timeoutMs: 60_000 });
      assert.equal(created.code, 0, `alice creates a flunder: ${created.stderr}`);
      assert.equal(created.stdout.trim(), "flunder.wardle.example.com/first");
      const listed = JSON.parse(await kubectl("--as=alice", "-n", "default", "get", "flunders.wardle.example.com", "-o", "json"));
      assert.deepEqual(listed.items.map((f: { metadata: { name: string } }) => f.metadata.name), ["first"]);
      // bob has no role: refused (by the main apiserver's RBAC first).
      const bob = await run(kubectlBin, ["--kubeconfig", await env.kubeconfigPath("k8s"), "--as=bob", "-n", "default", "get", "flunders.wardle.example.com"], { timeoutMs: 60_000 });
      assert.notEqual(bob.code, 0);
      assert.match(bob.stderr, /forbidden: User "bob" cannot list resource "flunders"/);
    }, LONG);
  });
}
