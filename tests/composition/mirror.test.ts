// The shared pull-through mirror (k3s({ mirror })): two clusters running the
// same workload image cause one fetch from the upstream. The upstream is a
// stand-in for Docker Hub — a real registry (distribution, the parts'
// registry:2) holding the image under its docker.io name — on the mirror's
// network; the mirror is the real distribution in proxy mode. Nodes are the
// (baked) node image; the workload image is pulled for real by each node's
// containerd through the mirror.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { waitForDeployment } from "../../lib/k3s/setup.ts";
import { docker, dockerResult, listByLabel } from "../../lib/docker.ts";
import { removeVolumes } from "../../lib/docker/volumes.ts";
import { MIRROR_NETWORK, mirrorName } from "../../lib/images/mirror.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { onlyUnder } from "../support/one-runtime.ts";
import { freePort } from "../support/controlplane.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { eventually } from "../support/eventually.ts";
import { leftovers } from "../support/leftovers.ts";
import { runTag } from "../support/child-processes.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;

/** GET requests the registry logged (distribution's access log). */
async function gets(container: string): Promise<string[]> {
  const r = await dockerResult(["logs", container]);
  return [...(r.stdout + r.stderr).matchAll(/"GET (\/v2\/[^ ]+) HTTP/g)].map((m) => m[1]);
}

const notHere = onlyUnder("bun", "the registry-mirror suite");
if (!TESTBED_IMAGE) {
  skip("shared registry mirror", NO_IMAGE_REASON);
} else if (notHere) {
  skip("shared registry mirror", notHere);
} else {
  const run = runTag();
  const upstreamName = `k3sbox-upstream-${run}`;
  const upstream = `http://${upstreamName}:5000`;
  const repo = `k3sbox-mirror-test-${run}/app`;
  suite("composition: the shared pull-through mirror fetches a workload image once for two clusters", {
    setupTimeoutMs: 200_000,
    setup: async () => {
      await ensureBusyboxImage();
      const net = await dockerResult(["network", "create", "--label", "k3sbox.cache=mirror", MIRROR_NETWORK]);
      if (net.code !== 0 && !/already exists/.test(net.stderr)) throw new Error(net.stderr);
      const port = await freePort();
      await docker(["run", "--detach", "--name", upstreamName, "--network", MIRROR_NETWORK, "--label", `k3sbox.test.run=${run}`, "--publish", `127.0.0.1:${port}:5000`, "registry:2"]);
      const pushed = `127.0.0.1:${port}/${repo}:1`;
      await docker(["build", "--quiet", "--tag", pushed, "-"], { stdin: `FROM ${BUSYBOX_IMAGE}\nRUN echo ${run} > /token\n`, timeoutMs: 120_000 });
      await eventually(`push ${pushed}`, async () => (await docker(["push", "--quiet", pushed], { timeoutMs: 60_000 }), true), 30_000);
      await docker(["rmi", pushed]);
      const before = (await gets(upstreamName)).length;
      return { before, envs: [] as Env[] };
    },
    teardown: async ({ envs }) => {
      await Promise.all(envs.map((e) => e.stop())); // only if the test failed before stopping them
      const mirror = mirrorName(upstream);
      await dockerResult(["rm", "--force", "--volumes", mirror, upstreamName]);
      await removeVolumes([`${mirror}-data`]);
      for (const e of envs) assert.deepEqual(await leftovers(e.id), []);
      assert.equal((await listByLabel("container", [`k3sbox.test.run=${run}`])).length, 0);
    },
  }, (t) => {
    t("two clusters run the same Docker Hub image: the upstream serves its manifest and each blob once", async (f) => {
      const def = () => ({ ...k3s({ registry: false, mirror: { upstream } }), image: { type: "registry" as const, reference: TESTBED_IMAGE! } });
      const progress: string[] = [];
      f.envs.push(...await Promise.all([1, 2].map(() => startEnvironment({ services: { k8s: def() }, onProgress: (m) => progress.push(m) }))));
      assert.match(progress.join("\n"), /registry mirror: starting k3sbox-mirror-/);
      for (const env of f.envs) {
        await env.svc.k8s.apply({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "app", namespace: "default" },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: "app" } },
            template: {
              metadata: { labels: { app: "app" } },
              spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "app", image: `${repo}:1`, command: ["sh", "-c", "cat /token; exec sleep 3600"] }] },
            },
          },
        });
        await waitForDeployment("k8s", env.svc.k8s, { name: "app", namespace: "default", timeoutMs: 120_000 });
      }
      const asked = (await gets(upstreamName)).slice(f.before).filter((p) => p.startsWith(`/v2/${repo}/`));
      const manifests = asked.filter((p) => p.includes("/manifests/"));
      const blobs = asked.filter((p) => p.includes("/blobs/"));
      assert.equal(manifests.length, 1, `manifest fetched once: ${manifests.join(", ")}`);
      assert.ok(blobs.length > 0, "the blobs came from the upstream");
      assert.equal(new Set(blobs).size, blobs.length, `each blob fetched once: ${blobs.join(", ")}`);
      // The mirror publishes nothing on the host.
      const ports = await docker(["inspect", "--format", "{{json .NetworkSettings.Ports}}", mirrorName(upstream)]);
      assert.doesNotMatch(ports, /HostPort/, ports);
      // Stopped here rather than in the teardown (whose deadline is shorter): the mirror outlives them.
      const stopped = f.envs.splice(0);
      await Promise.all(stopped.map((e) => e.stop()));
      for (const e of stopped) assert.deepEqual(await leftovers(e.id), []);
      const mirror = await docker(["inspect", "--format", "{{.State.Running}}", mirrorName(upstream)]);
      assert.equal(mirror.trim(), "true", "stopping the environments leaves the shared mirror running");
    }, { timeoutMs: 300_000 });
  });
}
