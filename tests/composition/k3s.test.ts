// k3s() end to end through the runner, on the node image run UNPRIVILEGED:
// then its `k3s server` entry cannot run a kubelet and falls back to kwok
// (fake pods), which makes this the fast API-level composition suite.
//
// The differences from real use, both set below: the node image instead of
// rancher/k3s, and no privileges. Traefik and the registry are Deployments
// that become Ready through kwok without serving traffic, so HTTPS routing is
// tested here against an HTTPS echo server; real Traefik, registry, pod
// network and DNS are tested on the real node in real-node.test.ts.

import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { REGISTRY_DEPLOYMENT } from "../../lib/k3s/manifests.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { run } from "../../lib/exec.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import { dnsName, type ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";

/** k3s() as users write it, with the two test-image differences named above. */
function k3sOnTestImage(opts: Parameters<typeof k3s>[0] = {}): ServiceDefinition<K3sHelpers> {
  return { ...k3s(opts), image: { type: "registry", reference: TESTBED_IMAGE! }, privileged: false };
}

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers>; db: ServiceDefinition }>;

if (!TESTBED_IMAGE) {
  skip("composition tier", NO_IMAGE_REASON);
} else {
  suite("composition: k3s() through the runner on the k3s-compatible test image (unprivileged)", {
    setupTimeoutMs: 180_000,
    setup: async () => {
      await ensureBusyboxImage();
      const progress: string[] = [];
      const env: Env = await startEnvironment({
        services: {
          k8s: k3sOnTestImage({ ingressDomains: ["example.test"], readyTimeoutSecs: 90 }),
          db: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 3600" },
        },
        onProgress: (m) => progress.push(m),
      });
      console.error(`  environment ${env.id} ready: ${JSON.stringify(env.timings)}`);
      return { env, progress };
    },
    teardown: async ({ env }) => {
      await env.stop();
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves nothing");
    },
  }, (t) => {
    t("reached ready and ran setup to completion: Traefik and the registry are Ready", async ({ env }) => {
      for (const name of ["traefik", REGISTRY_DEPLOYMENT]) {
        const dep = await env.svc.k8s.client.apps.readNamespacedDeployment({ name, namespace: "kube-system" });
        assert.equal(dep.status?.readyReplicas, 1, name);
      }
      const secret = await env.svc.k8s.client.core.readNamespacedSecret({ name: "traefik-default-tls", namespace: "kube-system" });
      assert.equal(secret.type, "kubernetes.io/tls");
    });

    t("client.core.listNode() over the published port, TLS verified against the cluster CA", async ({ env }) => {
      const nodes = await env.svc.k8s.client.core.listNode();
      assert.equal(nodes.items.length, 1);
      assert.equal(env.svc.k8s.kubeconfig.getCurrentCluster()?.server, `https://127.0.0.1:${env.hostPort("k8s", 6443)}`);
      assert.match(env.timeline(), /^list nodes 200 \d+ms$/m);
    });

    t("apply creates workloads that roll out", async ({ env }) => {
      const [dep] = await env.svc.k8s.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello, namespace: default }
spec:
  replicas: 2
  selector: { matchLabels: { app: hello } }
  template:
    metadata: { labels: { app: hello } }
    spec: { containers: [{ name: web, image: "k8s.internal:5000/hello:1" }] }
`);
      assert.equal(dep.metadata?.name, "hello");
      const { waitForDeployment } = await import("../../lib/k3s/setup.ts");
      await waitForDeployment("k8s", env.svc.k8s, { name: "hello", namespace: "default", timeoutMs: 60_000 });
      assert.match(env.timeline(), /^apply deployments · default\/hello 201 \d+ms$/m, "apply is a server-side apply");
    }, { timeoutMs: 90_000 });

    t("kubeconfigPath(): a 0600 file kubectl uses against the published port", async ({ env }) => {
      const path = await env.kubeconfigPath("k8s");
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const r = await run("kubectl", ["--kubeconfig", path, "get", "deployments", "-n", "kube-system", "-o", "name"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), [`deployment.apps/${REGISTRY_DEPLOYMENT}`, "deployment.apps/traefik"]);
      assert.equal(await env.kubeconfigPath("k8s"), path, "one file per service");
    });

    t("peer containers are registered in CoreDNS NodeHosts as <key>.internal, and the test process as host.k3sbox.internal", async ({ env }) => {
      const cm = await env.svc.k8s.client.core.readNamespacedConfigMap({ name: "coredns", namespace: "kube-system" });
      assert.ok(cm.data?.NodeHosts.split("\n").includes(`${env.services.db.ip} db.internal db`), cm.data?.NodeHosts);
      assert.ok(cm.data?.NodeHosts.split("\n").includes(`${env.hostAddress} host.k3sbox.internal`), cm.data?.NodeHosts);
    });

    t("registries.yaml in the container trusts the in-cluster registry under the service's own name", async ({ env }) => {
      const { execIn } = await import("../../lib/docker.ts");
      const r = await execIn(env.services.k8s.containerId, ["cat", "/etc/rancher/k3s/registries.yaml"]);
      assert.match(r.stdout, /"k8s\.internal:5000":\n {4}endpoint:\n {6}- "http:\/\/127\.0\.0\.1:5000"/);
    });

    t("the API server certificate covers every name the helpers and peers use (--tls-san)", async ({ env }) => {
      const { execIn } = await import("../../lib/docker.ts");
      // From the peer container, through the network alias: TLS must verify for k8s.internal.
      const caB64 = env.svc.k8s.kubeconfig.getCurrentCluster()!.caData!;
      const r = await execIn(env.services.k8s.containerId, ["/bin/sh", "-c",
        `echo ${caB64} | base64 -d > /tmp/ca.pem && kubectl --server=https://k8s.internal:6443 --certificate-authority=/tmp/ca.pem get --raw=/readyz`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "ok");
    });
  });

  suite("composition: env.fetch over HTTPS to a routed service (echo-https from the test image)", {
    setup: async () => {
      const ca = await generateCa();
      const leaf = await issueLeaf(ca, { names: ["*.echo.test"] });
      const other = await issueLeaf(await generateCa({ commonName: "untrusted" }), { names: ["*.rogue.test"] });
      const echo = (cert: { certPem: string; keyPem: string }, domain: string): ServiceDefinition => ({
        image: { type: "registry", reference: TESTBED_IMAGE! },
        command: ["/bin/echo-https", "--cert", "/tls/tls.crt", "--key", "/tls/tls.key", "--http", ":80", "--https", ":443"],
        ports: [80, 443],
        files: [{ path: "/tls/tls.crt", content: cert.certPem }, { path: "/tls/tls.key", content: cert.keyPem }],
        readyCheck: { type: "http", port: 80, path: "/", timeoutSecs: 20 },
        dnsNames: [dnsName(`*.${domain}`, { service: "{{SERVICE}}" })],
      });
      const env = await startEnvironment({
        services: { echo: echo(leaf, "echo.test"), rogue: echo(other, "rogue.test") },
        ca: { certPem: ca.certPem, keyPem: await ca.keyPem() },
      });
      return { env };
    },
    teardown: async ({ env }) => {
      await env.stop();
      assert.deepEqual(await leftovers(env.id), []);
    },
  }, (t) => {
    t("https://hello.echo.test/ reaches the service with the right Host and SNI, verified by the environment CA", async ({ env }) => {
      const res = await env.fetch("https://hello.echo.test/some/path?q=1");
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.host, "hello.echo.test");
      assert.equal(body.sni, "hello.echo.test");
      assert.equal(body.path, "/some/path");
      assert.match(env.timeline(), /^GET https:\/\/hello\.echo\.test\/some\/path\?q=1 200 \d+ms$/m);
    });

    t("a Request object keeps its method and headers", async ({ env }) => {
      const body = await (await env.fetch(new Request("https://api.echo.test/post", { method: "POST", body: "x", headers: { "x-k3sbox": "1" } }))).json();
      assert.equal(body.method, "POST");
      assert.equal(body.path, "/post");
    });

    t("plain http goes to the published :80 with the Host header", async ({ env }) => {
      const body = await (await env.fetch("http://api.echo.test/x")).json();
      assert.equal(body.host, "api.echo.test");
      assert.equal(body.sni, "");
    });

    t("a service whose certificate the environment CA did not sign is refused", async ({ env }) => {
      await assert.rejects(env.fetch("https://x.rogue.test/"), /certificate|self.signed|unable to verify|UNABLE_TO_VERIFY|SELF_SIGNED|issuer/i);
      assert.match(env.timeline(), /^GET https:\/\/x\.rogue\.test\/ failed: /m);
    });
  });
}
