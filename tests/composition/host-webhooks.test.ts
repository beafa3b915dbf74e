// The cluster calls the test process: `host.k3sbox.internal` from pods (CoreDNS
// NodeHosts) and the node (/etc/hosts) to env.hostAddress, and admission and
// conversion webhooks served by this process (webhooks()), under Bun, Deno
// and Node, on the real node (kube-apiserver v1.35 calls the webhooks).

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import type { KubeNamespace } from "../../lib/kube/client.ts";
import type { KubeObject } from "../../lib/kube/manifest.ts";
import { execIn, networkGateway } from "../../lib/docker.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { leftovers } from "../support/leftovers.ts";
import { eventually } from "../support/eventually.ts";
import { openSocket, shellPod } from "../support/streams.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;
const LONG = { timeoutMs: 180_000 };

const GROUP = "hooks.k3sbox.test";
const CRD_NAME = `widgets.${GROUP}`;
const schema = {
  openAPIV3Schema: {
    type: "object",
    properties: { spec: { type: "object", properties: { color: { type: "string" }, colour: { type: "string" } } } },
  },
};
const crd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: CRD_NAME },
  spec: {
    group: GROUP,
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget" },
    versions: [
      { name: "v1", served: true, storage: true, schema },
      { name: "v2", served: true, storage: false, schema },
    ],
  },
};

/** v1 says `color`, v2 says `colour` (and v2 keeps a note of its conversion). */
function convertWidget(o: KubeObject, to: string): KubeObject {
  const { color, colour, ...rest } = o.spec ?? {};
  return to === `${GROUP}/v2`
    ? { ...o, apiVersion: to, spec: { ...rest, colour: color ?? colour } }
    : { ...o, apiVersion: to, spec: { ...rest, color: colour ?? color } };
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

if (!TESTBED_IMAGE) {
  skip("host.k3sbox.internal and webhooks on a real node", NO_IMAGE_REASON);
} else {
  suite("composition: the cluster calls the test process (host.k3sbox.internal, admission and conversion webhooks; real node)", {
    setupTimeoutMs: 300_000,
    setup: async () => {
      const env: Env = await startEnvironment({
        services: { k8s: { ...k3s({ registry: false }), image: { type: "registry", reference: TESTBED_IMAGE! } } },
      });
      const k8s = env.svc.k8s;
      const ns: KubeNamespace = await k8s.namespace("hooks");
      await ns.apply(shellPod("shell"));
      await ns.waitFor("pod/shell", "Ready", { timeoutMs: 120_000 });
      // Never closed by the tests: the environment's stop must uninstall it and stop its server.
      const leftOpen = await k8s.webhooks({
        validating: [{
          name: "left-open.hooks.k3sbox.test",
          rules: [{ operations: ["DELETE"], apiGroups: [""], apiVersions: ["v1"], resources: ["secrets"] }],
          objectSelector: { matchLabels: { "left-open": "yes" } },
          handler: () => ({ allowed: true }),
        }],
      });
      return { env, k8s, ns, leftOpen };
    },
    teardown: async ({ env, leftOpen }) => {
      await env.stop();
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves no container or network");
      await assert.rejects(openSocket(leftOpen.port, leftOpen.address), /ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH|EHOSTUNREACH/, "stop() closed the webhook server nobody closed");
    },
  }, (t) => {
    t("env.hostAddress is the network's gateway (not all interfaces); a pod's HTTP GET of host.k3sbox.internal (CoreDNS) reaches a server bound there", async ({ env, ns }) => {
      assert.equal(env.topology.kind, "local", "this test is about the local topology");
      assert.equal(env.hostAddress, await networkGateway(env.network));
      assert.notEqual(env.hostAddress, "0.0.0.0");
      const token = `hello-from-the-test-process-${crypto.randomUUID()}`;
      const server = createServer((_req, res) => res.end(token));
      const port = await listen(server, env.hostAddress);
      try {
        assert.equal((server.address() as AddressInfo).address, env.hostAddress);
        // NodeHosts reaches CoreDNS through the kubelet's ConfigMap sync and its 15 s reload.
        // What `wget -qO- http://host.k3sbox.internal:<port>/` does, with busybox's
        // nslookup and nc: the node image's busybox is static glibc, and its wget
        // crashes (SIGSEGV) in the NSS lookup even for an IP (see real-node.test.ts).
        const script = `ip=$(nslookup host.k3sbox.internal | awk '/^Name:/{getline; print $2}'); echo "resolved $ip"; ` +
          `printf 'GET / HTTP/1.0\\r\\nHost: host.k3sbox.internal\\r\\n\\r\\n' | nc -w 5 "$ip" ${port}`;
        const page = await eventually("a pod's HTTP GET of host.k3sbox.internal", async () => {
          const r = await ns.exec("shell", ["sh", "-c", script]);
          return r.stdout.includes(token) ? r.stdout : undefined;
        }, 120_000, 1_000);
        assert.match(page, new RegExp(`^resolved ${env.hostAddress.replace(/\./g, "\\.")}$`, "m"), "CoreDNS answers host.k3sbox.internal with env.hostAddress");
        assert.match(page, /^HTTP\/1\.1 200 OK\r$/m);
        assert.ok(page.endsWith(token), page);
        // The node itself (where the API server calls webhooks from) has it in /etc/hosts.
        const hosts = await execIn(env.services.k8s.containerId, ["cat", "/etc/hosts"]);
        assert.match(hosts.stdout, new RegExp(`^${env.hostAddress.replace(/\./g, "\\.")}\\s+host\\.k3sbox\\.internal$`, "m"));
      } finally {
        await new Promise((r) => server.close(r));
      }
    }, LONG);

    t("webhooks(): validating denies with its own message, mutating labels, conversion serves v2 stored as v1; close() removes them all", async ({ env, k8s, ns }) => {
      await k8s.apply(crd);
      await k8s.waitFor({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: CRD_NAME } }, "Established", { timeoutMs: 60_000 });
      // An object stored before the webhook exists: webhooks() proves conversion by reading it at v2.
      await ns.apply({ apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name: "old" }, spec: { color: "red" } });

      const hooks = await k8s.webhooks({
        validating: [{
          name: "no-forbidden.hooks.k3sbox.test",
          rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns.name } },
          handler: (req) =>
            req.object?.data && "forbidden" in req.object.data
              ? { allowed: false, message: `the key "forbidden" is not allowed in ${req.name}` }
              : { allowed: true },
        }],
        mutating: [{
          name: "stamp.hooks.k3sbox.test",
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns.name } },
          handler: (req) => ({
            allowed: true,
            patch: req.object?.metadata?.labels
              ? [{ op: "add", path: "/metadata/labels/stamped-by", value: "k3sbox" }]
              : [{ op: "add", path: "/metadata/labels", value: { "stamped-by": "k3sbox" } }],
          }),
        }],
        conversion: [{ crd: CRD_NAME, convert: convertWidget }],
      });
      assert.match(hooks.url, /^https:\/\/host\.k3sbox\.internal:\d+$/);
      assert.equal(hooks.address, env.hostAddress);
      assert.ok(hooks.calls(CRD_NAME) >= 1, "webhooks() returned after the API server called the conversion webhook");

      // Validating: the apply fails with the webhook's own message.
      await assert.rejects(
        ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "bad" }, data: { forbidden: "x" } }),
        /the key "forbidden" is not allowed in bad/,
      );
      // Mutating: a later read shows the label.
      await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "good" }, data: { fine: "y" } });
      const good = (await k8s.client.core.readNamespacedConfigMap({ name: "good", namespace: ns.name })).unwrap();
      assert.equal(good.metadata?.labels?.["stamped-by"], "k3sbox");
      assert.ok(hooks.calls("no-forbidden.hooks.k3sbox.test") >= 2 && hooks.calls("stamp.hooks.k3sbox.test") >= 1);

      // Conversion: the v1 object reads as v2, and a v2 object is stored as v1.
      const oldV2 = (await k8s.client.objects.read({ apiVersion: `${GROUP}/v2`, kind: "Widget", metadata: { name: "old", namespace: ns.name } })).unwrap() as KubeObject;
      assert.deepEqual(oldV2.spec, { colour: "red" });
      await ns.apply({ apiVersion: `${GROUP}/v2`, kind: "Widget", metadata: { name: "new" }, spec: { colour: "blue" } });
      const newV1 = (await k8s.client.objects.read({ apiVersion: `${GROUP}/v1`, kind: "Widget", metadata: { name: "new", namespace: ns.name } })).unwrap() as KubeObject;
      assert.equal(newV1.apiVersion, `${GROUP}/v1`);
      assert.deepEqual(newV1.spec, { color: "blue" });

      const tl = env.timeline();
      assert.match(tl, new RegExp(`^webhook validating no-forbidden\\.hooks\\.k3sbox\\.test ← CREATE configmaps · ${ns.name}/bad denied: the key "forbidden" is not allowed in bad \\d+ms$`, "m"));
      assert.match(tl, /^webhook mutating stamp\.hooks\.k3sbox\.test ← CREATE configmaps · \S+\/good patched \(1 op\) \d+ms$/m);
      assert.match(tl, new RegExp(`^webhook conversion ${CRD_NAME.replace(/\./g, "\\.")} ← to ${GROUP.replace(/\./g, "\\.")}/v\\d converted 1 object \\d+ms$`, "m"));

      await hooks.close();
      // The configurations are gone: the forbidden key is accepted, nothing is stamped, and the CRD converts no more.
      await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after" }, data: { forbidden: "x" } });
      const after = (await k8s.client.core.readNamespacedConfigMap({ name: "after", namespace: ns.name })).unwrap();
      assert.equal(after.metadata?.labels?.["stamped-by"], undefined);
      const def = (await k8s.client.objects.read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: CRD_NAME } })).unwrap() as KubeObject;
      assert.equal(def.spec.conversion?.strategy, "None");
      const left = await k8s.client.objects.list("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration");
      const mine = hooks.configurations.map((c) => c.metadata?.name);
      assert.equal(mine.length, 2, "a validating and a mutating configuration");
      assert.deepEqual(left.unwrap().items.map((i) => i.metadata?.name).filter((n) => mine.includes(n)), []);
      await hooks.close(); // twice is fine
    }, LONG);

    t("webhooks({ configurations, handlers, converters }): existing manifests' service clientConfig is rewritten to this process and served by each path's handler", async ({ env, k8s, ns }) => {
      const name = `existing-${ns.name}`;
      const gadgets = `gadgets.${GROUP}`;
      const hooks = await k8s.webhooks({
        configurations: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${gadgets} }
spec:
  group: ${GROUP}
  scope: Namespaced
  names: { plural: gadgets, singular: gadget, kind: Gadget }
  conversion:
    strategy: Webhook
    webhook:
      clientConfig: { service: { name: webhook-service, namespace: system, path: /convert } }
      conversionReviewVersions: [v1]
  versions:
  - { name: v1, served: true, storage: true, schema: ${JSON.stringify(schema)} }
  - { name: v2, served: true, storage: false, schema: ${JSON.stringify(schema)} }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: ${name} }
webhooks:
- name: vconfigmap.kb.io
  clientConfig: { service: { name: webhook-service, namespace: system, path: /validate-v1-configmap } }
  rules: [{ operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps] }]
  namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: ${ns.name} } }
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Fail
`,
        handlers: { "/validate-v1-configmap": (req) => ({ allowed: req.name !== "nope", message: "controller-gen style webhook says nope" }) },
        converters: { "/convert": convertWidget },
      });
      try {
        const live = (await k8s.client.objects.read({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name } })).unwrap() as KubeObject;
        const hook = live.webhooks.find((w: { name: string }) => w.name === "vconfigmap.kb.io");
        assert.equal(hook.clientConfig.url, `${hooks.url}/validate-v1-configmap`);
        assert.equal(hook.clientConfig.service, undefined);
        assert.equal(atob(hook.clientConfig.caBundle), env.caPem);
        await assert.rejects(ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "nope" } }), /controller-gen style webhook says nope/);
        await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "yes" } });
        assert.equal(hooks.calls("vconfigmap.kb.io"), 2);
        // The CRD was applied with its conversion pointed here: a v2 object is stored as v1 and reads back in both shapes.
        const crdLive = (await k8s.client.objects.read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: gadgets } })).unwrap() as KubeObject;
        assert.equal(crdLive.spec.conversion.webhook.clientConfig.url, `${hooks.url}/convert`);
        await ns.apply({ apiVersion: `${GROUP}/v2`, kind: "Gadget", metadata: { name: "g" }, spec: { colour: "green" } });
        const g1 = (await k8s.client.objects.read({ apiVersion: `${GROUP}/v1`, kind: "Gadget", metadata: { name: "g", namespace: ns.name } })).unwrap() as KubeObject;
        assert.deepEqual(g1.spec, { color: "green" });
        assert.ok(hooks.calls(gadgets) >= 1);
      } finally {
        await hooks[Symbol.asyncDispose]();
      }
      await assert.rejects(
        k8s.client.objects.read({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name } }),
        /404/,
      );
      await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "nope" } });
      // The CRD stays (it is the user's), converting no more through a server that is gone.
      const crdAfter = (await k8s.client.objects.read({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: gadgets } })).unwrap() as KubeObject;
      assert.equal(crdAfter.spec.conversion?.strategy, "None");
    }, LONG);
  });
}
