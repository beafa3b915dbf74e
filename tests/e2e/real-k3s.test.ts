// Real rancher/k3s, opt-in with K3SBOX_E2E=1: needs a Docker host that allows
// privileged containers and can pull rancher/k3s, Traefik, registry:2 and
// the demo image. It runs the same path as `k3sbox smoke` (boot, Deployment +
// Service + Ingress, rollout, HTTPS through real Traefik with the
// environment's CA, teardown) plus the composition checks.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { REGISTRY_DEPLOYMENT } from "../../lib/k3s/manifests.ts";
import { smoke } from "../../lib/cli/smoke.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";

if (process.env.K3SBOX_E2E !== "1") {
  skip(
    "real k3s (rancher/k3s, privileged, HTTPS through Traefik)",
    "opt-in: set K3SBOX_E2E=1 on a host with privileged Docker and image pulls (this tier cannot run where privileged containers are refused or registries are unreachable)",
  );
} else {
  suite("real k3s (K3SBOX_E2E=1)", { setup: () => Promise.resolve({}), teardown: () => Promise.resolve() }, (t) => {
    t("smoke: boot, deploy, roll out, HTTPS through Traefik, teardown", async () => {
      const report = await smoke(k3s({ ingressDomains: ["k3sbox.test"] }), (m) => console.error(`  ${m}`));
      console.error(`  phases: ${JSON.stringify(report.phases)}`);
      assert.equal(report.ok, true, report.error);
    }, { timeoutMs: 600_000 });

    t("k3s() helpers, setup and kubeconfig on real k3s", async () => {
      await using env = await startEnvironment({ services: { k8s: k3s() } });
      const nodes = await env.svc.k8s.client.core.listNode();
      assert.equal(nodes.items.length, 1);
      const reg = await env.svc.k8s.client.apps.readNamespacedDeployment({ name: REGISTRY_DEPLOYMENT, namespace: "kube-system" });
      assert.equal(reg.status?.readyReplicas, 1);
    }, { timeoutMs: 600_000 });
  });
}
