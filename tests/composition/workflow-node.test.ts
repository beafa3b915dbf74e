// The test-suite workflow on a real node (the node image: kubelet,
// containerd + runc, CNI; see real-node.test.ts), through k3s({ image }):
// loadImages() and `k3sbox load` from the host's Docker into containerd,
// pods running those images with imagePullPolicy: Never, logs() of real
// containers, a rollout to a new ReplicaSet, a crash-looping rollout whose
// timeout shows the container's log tail, and env.diagnostics().

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { LoadImagesError } from "../../lib/k3s/load-images.ts";
import { WaitError } from "../../lib/kube/waits.ts";
import { docker } from "../../lib/docker.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { k3sbox } from "../support/cli.ts";
import { leftovers } from "../support/leftovers.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;
const LONG = { timeoutMs: 180_000 };
const hex = () => Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");

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

if (!TESTBED_IMAGE) {
  skip("workflow on a real node", NO_IMAGE_REASON);
} else {
  const run = hex();
  const tags = { one: `k3sbox-test-loaded:${run}-1`, two: `k3sbox-test-loaded:${run}-2`, cli: `k3sbox-test-loaded:${run}-cli` };
  suite("composition: workflow helpers on a real node (loadImages, logs, rollout, diagnostics)", {
    setupTimeoutMs: 300_000,
    setup: async () => {
      await ensureBusyboxImage();
      for (const [k, tag] of Object.entries(tags)) await buildTokenImage(tag, `token-${k}-${run}`);
      const env: Env = await startEnvironment({ services: { k8s: k3s({ image: TESTBED_IMAGE!, registry: false }) } });
      console.error(`  environment ${env.id} ready: ${JSON.stringify(env.timings)}`);
      return { env };
    },
    teardown: async ({ env }) => {
      try {
        await env.stop();
      } finally {
        await docker(["rmi", ...Object.values(tags)]).catch(() => {});
      }
      assert.deepEqual(await leftovers(env.id), []);
    },
  }, (t) => {
    t("loadImages: a locally built image runs with imagePullPolicy: Never, and logs() reads the real container", async ({ env }) => {
      const k8s = env.svc.k8s;
      const loaded = await k8s.loadImages(tags.one);
      assert.deepEqual(loaded, [{ reference: tags.one, name: `docker.io/library/${tags.one}` }]);
      await using ns = await k8s.namespace("load");
      await ns.apply(deployment("tok", tags.one, "cat /token; echo started; exec sleep 3600"));
      await ns.rollout("deployment/tok", { timeoutMs: 120_000 });
      const log = await ns.logs("app=tok");
      assert.equal(log, `token-one-${run}\nstarted\n`);
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
      assert.equal(await ns.logs(pods[0]), `token-two-${run}\n`);
    }, LONG);

    t("a rollout that can never finish (crash loop) times out with the failing container's log tail", async ({ env }) => {
      const k8s = env.svc.k8s;
      await k8s.loadImages(tags.one);
      await using ns = await k8s.namespace("crash");
      // Between crashes the container is Running (and, without a probe, Ready) for an instant;
      // minReadySeconds keeps such an instant from counting as available, as in a real rollout gate.
      const crash = deployment("crash", tags.one, "echo 'fatal: no config at /etc/app.yaml' >&2; exit 3");
      await ns.apply({ ...crash, spec: { ...crash.spec, minReadySeconds: 30 } });
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
      assert.equal(await ns.logs("job-name=ok"), `token-one-${run}\n`);
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
