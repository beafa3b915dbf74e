// The test-suite workflow helpers against a real kube-apiserver (+ etcd,
// controller-manager, scheduler; kwok plays the kubelet of one fake Node, so
// Deployments, StatefulSets, DaemonSets and Jobs progress, but containers
// never run and have no logs): server-side apply, create, delete, unknown
// kinds, rollout and waitFor with their deadlines and diagnostics,
// namespace(), logs(), results as plain data, and patch strategies.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite } from "../harness.ts";
import { expectStrictEqual } from "../support/expect.ts";
import { PatchStrategy, setHeaderOptions } from "../../mod.ts";
import { readTag } from "../../lib/provenance.ts";
import { ApplyConflictError, ApplyError } from "../../lib/kube/apply.ts";
import { createKubeHelpers, type KubeHelpers, loadKubeconfig } from "../../lib/kube/client.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { UnknownKindError } from "../../lib/kube/kinds.ts";
import { NAMESPACE_LABEL } from "../../lib/kube/namespaces.ts";
import { WaitError } from "../../lib/kube/waits.ts";
import { run } from "../../lib/exec.ts";
import { Recorder } from "../../lib/recorder.ts";
import { type ControlPlane, NO_TESTBED_REASON, startControlPlane, TESTBED_BIN } from "../support/controlplane.ts";

interface Fixture {
  cp: ControlPlane;
  h: KubeHelpers;
  recorder: Recorder;
  kubeconfigPath: string;
}

const configMap = (name: string, data: Record<string, string>, namespace?: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ""}data: ${JSON.stringify(data)}\n`;

function deployment(name: string, image: string, extra: { podSpec?: Record<string, unknown>; spec?: Record<string, unknown> } = {}) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image }], ...extra.podSpec } },
      ...extra.spec,
    },
  };
}

async function kubectl(f: Fixture, ...args: string[]) {
  const r = await run("kubectl", ["--kubeconfig", f.kubeconfigPath, ...args]);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

if (!TESTBED_BIN) {
  skip("workflow helpers on the control plane", NO_TESTBED_REASON);
} else {
  suite("workflow helpers on the control plane (real kube-apiserver, kwok node)", {
    setupTimeoutMs: 120_000,
    setup: async (): Promise<Fixture> => {
      const cp = await startControlPlane();
      const recorder = new Recorder();
      const h = await createKubeHelpers(await loadKubeconfig(cp.kubeconfigYaml), { recorder });
      const dir = await mkdtemp(join(tmpdir(), "k3sbox-workflow-"));
      const kubeconfigPath = join(dir, "config.yaml");
      await writeFile(kubeconfigPath, h.kubeconfig.exportConfig(), { mode: 0o600 });
      return { cp, h, recorder, kubeconfigPath };
    },
    teardown: async (f) => {
      await f.h.close();
      await f.cp.stop();
      await rm(join(f.kubeconfigPath, ".."), { recursive: true, force: true });
    },
  }, (t) => {
    // ---- 1. apply / create / delete ----

    t("apply twice succeeds (server-side apply, field manager k3sbox); a changed manifest updates", async ({ h, recorder }) => {
      await using ns = await h.namespace("apply");
      const [first] = await ns.apply(configMap("settings", { color: "blue" }));
      const [again] = await ns.apply(configMap("settings", { color: "blue" }));
      assert.equal(again.metadata?.uid, first.metadata?.uid);
      assert.equal(again.metadata?.resourceVersion, first.metadata?.resourceVersion, "an unchanged apply is a no-op");
      assert.deepEqual(again.metadata?.managedFields?.map((m) => [m.manager, m.operation]), [["k3sbox", "Apply"]]);
      const [changed] = await ns.apply(configMap("settings", { color: "green", size: "2" }));
      assert.deepEqual(changed.unwrap().data, { color: "green", size: "2" });
      const live = await h.client.core.readNamespacedConfigMap({ name: "settings", namespace: ns.name });
      assert.deepEqual(live.unwrap().data, { color: "green", size: "2" });
      assert.match(recorder.timeline(), new RegExp(`^apply configmaps · ${ns.name}/settings 201 \\d+ms$`, "m"));
      assert.match(recorder.timeline(), new RegExp(`^apply configmaps · ${ns.name}/settings 200 \\d+ms$`, "m"));
    });

    t("apply: a field another manager owns is a conflict naming the field and the manager; force takes it over", async (f) => {
      const { h } = f;
      await using ns = await h.namespace("conflict");
      await ns.apply(configMap("shared", { color: "blue" }));
      // An independent client changes the field: kubectl's field manager now owns it.
      await kubectl(f, "-n", ns.name, "patch", "configmap", "shared", "--type", "merge", "-p", '{"data":{"color":"red"}}');
      await assert.rejects(ns.apply(configMap("shared", { color: "green" })), (err: unknown) => {
        assert.ok(err instanceof ApplyError);
        assert.ok(err.cause instanceof ApplyConflictError);
        assert.deepEqual(err.cause.conflicts, [{ field: ".data.color", manager: "kubectl-patch" }]);
        assert.equal(
          err.message,
          `apply: document 1 (ConfigMap ${ns.name}/shared): 1 field conflict on ConfigMap ${ns.name}/shared: .data.color (owned by "kubectl-patch"); apply with { force: true } to take it over`,
        );
        return true;
      });
      assert.equal((await h.client.core.readNamespacedConfigMap({ name: "shared", namespace: ns.name })).data?.color, "red");
      const [forced] = await ns.apply(configMap("shared", { color: "green" }), { force: true });
      assert.equal(forced.data?.color, "green");
      assert.equal(await kubectl(f, "-n", ns.name, "get", "configmap", "shared", "-o", "jsonpath={.data.color}"), "green");
    });

    t("create keeps create-only behaviour: the second create is 409 AlreadyExists", async ({ h }) => {
      await using ns = await h.namespace("create");
      const [created] = await ns.create(configMap("once", { a: "1" }));
      assert.ok(created.metadata?.uid);
      await assert.rejects(ns.create(configMap("once", { a: "1" })), (err: unknown) => {
        assert.ok(err instanceof ApplyError);
        assert.ok(err.cause instanceof KubeApiError);
        assert.equal(err.cause.code, 409);
        assert.equal(
          err.message,
          `create: document 1 (ConfigMap ${ns.name}/once): create configmaps · ${ns.name}/once: 409 AlreadyExists: configmaps "once" already exists`,
        );
        return true;
      });
      // generateName works with create (server-side apply needs a name).
      const [generated] = await ns.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { generateName: "gen-" }, data: {} });
      assert.match(generated.metadata!.name!, /^gen-[a-z0-9]{5}$/);
      await assert.rejects(ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { generateName: "gen-" } }), /metadata\.name is required/);
    });

    t("delete removes every object of a manifest and waits until they are gone; already gone is fine", async ({ h }) => {
      await using ns = await h.namespace("delete");
      const manifest = `${configMap("one", { a: "1" })}---\n${configMap("two", { b: "2" })}`;
      await ns.apply(manifest);
      await ns.delete(manifest);
      for (const name of ["one", "two"]) {
        await assert.rejects(h.client.core.readNamespacedConfigMap({ name, namespace: ns.name }), (e: unknown) => (e as KubeApiError).code === 404);
      }
      await ns.delete(manifest); // nothing left: still fine
      // A namespace with content: gone only once the namespace controller emptied it.
      const extra = `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns.name}-extra}\n---\n${configMap("inner", { x: "1" }, `${ns.name}-extra`)}`;
      await h.apply(extra);
      await h.delete(extra, { timeoutMs: 60_000 });
      await assert.rejects(h.client.core.readNamespace({ name: `${ns.name}-extra` }), (e: unknown) => (e as KubeApiError).code === 404);
    }, { timeoutMs: 90_000 });

    t("delete: an object held by a finalizer times out naming it and its finalizer", async ({ h }) => {
      await using ns = await h.namespace("finalizer");
      const held = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "held", finalizers: ["k3sbox.test/hold"] }, data: {} };
      await ns.apply(held);
      await assert.rejects(ns.delete(held, { timeoutMs: 1_000 }), (err: unknown) => {
        assert.equal((err as Error).message, `delete: still present after 1s: ConfigMap ${ns.name}/held (finalizers: k3sbox.test/hold)`);
        return true;
      });
      await h.client.core.patchNamespacedConfigMap({ name: "held", namespace: ns.name, body: [{ op: "remove", path: "/metadata/finalizers" }] });
      await ns.delete(held);
    });

    t("unknown kinds and groups say what is missing instead of a discovery 404", async ({ h }) => {
      const cases: [string, string, string][] = [
        ["nothere.k3sbox.test/v1", "Gadget", "kind Gadget in group nothere.k3sbox.test is not served by this cluster (is its CRD installed?); apiVersion was nothere.k3sbox.test/v1"],
        ["apps/v1", "Gadget", "kind Gadget in group apps is not served by this cluster (is its CRD installed?); apiVersion was apps/v1"],
        ["apps/v9", "Deployment", "kind Deployment in group apps is not served by this cluster (is its CRD installed?); apiVersion was apps/v9"],
        ["v1", "Gadget", "kind Gadget in group core is not served by this cluster (is its CRD installed?); apiVersion was v1"],
      ];
      for (const [apiVersion, kind, message] of cases) {
        await assert.rejects(h.apply({ apiVersion, kind, metadata: { name: "x", namespace: "default" } }), (err: unknown) => {
          assert.ok(err instanceof ApplyError);
          assert.ok(err.cause instanceof UnknownKindError, String(err));
          assert.equal(err.cause.message, message);
          assert.equal(err.message, `apply: document 1 (${kind} default/x): ${message}`);
          return true;
        });
      }
      await assert.rejects(h.waitFor({ apiVersion: "nothere.k3sbox.test/v1", kind: "Gadget", metadata: { name: "x" } }, "Ready"), UnknownKindError);
    });

    t("apply(undefined), apply(\"\") and a manifest of empty documents are errors, and nothing is sent", async ({ h, recorder }) => {
      const before = recorder.events().length;
      const apply = h.apply as (m: unknown) => Promise<unknown>;
      await assert.rejects(apply(undefined), { name: "TypeError", message: "apply(): manifest must be YAML text, a Kubernetes object or an array of them; got undefined" });
      await assert.rejects(apply(""), { name: "TypeError", message: "apply(): manifest has no objects (empty text)" });
      await assert.rejects(apply("---\n# only a comment\n---\n"), { name: "TypeError", message: "apply(): manifest has no objects (only empty YAML documents)" });
      await assert.rejects(apply([]), { name: "TypeError", message: "apply(): manifest is an empty array; pass at least one object" });
      await assert.rejects(h.delete(undefined as never), { name: "TypeError", message: /^delete\(\): manifest must be/ });
      assert.equal(recorder.events().length, before);
    });

    // ---- 2. rollout / waitFor ----

    t("rollout waits for a changed Deployment's new ReplicaSet, not the old one's ready pods", async ({ h }) => {
      await using ns = await h.namespace("rollout");
      await ns.apply(deployment("web", "example.test/web:1"));
      const v1 = await ns.rollout("deployment/web");
      assert.equal(v1.status?.observedGeneration, 1);
      // Change the template: the old ReplicaSet's pods are still Ready at this instant.
      await ns.apply(deployment("web", "example.test/web:2"));
      const v2 = (await ns.rollout("deploy/web")).unwrap() as { metadata: { generation: number }; status: Record<string, number> };
      assert.equal(v2.metadata.generation, 2);
      assert.equal(v2.status.observedGeneration, 2);
      assert.equal(v2.status.updatedReplicas, 2);
      assert.equal(v2.status.availableReplicas, 2);
      assert.equal(v2.status.replicas, 2, "no old replicas left");
      const sets = (await h.client.apps.listNamespacedReplicaSet({ namespace: ns.name })).unwrap().items;
      const byImage = Object.fromEntries(sets.map((rs) => [rs.spec?.template?.spec?.containers[0].image, rs.status?.readyReplicas ?? 0]));
      assert.deepEqual(byImage, { "example.test/web:1": 0, "example.test/web:2": 2 });
    }, { timeoutMs: 90_000 });

    t("rollout of a StatefulSet and a DaemonSet (accepting an object from apply)", async ({ h }) => {
      await using ns = await h.namespace("sets");
      const [sts, ds] = await ns.apply([
        {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: { name: "db" },
          spec: {
            replicas: 2,
            serviceName: "db",
            selector: { matchLabels: { app: "db" } },
            template: { metadata: { labels: { app: "db" } }, spec: { containers: [{ name: "db", image: "example.test/db:1" }] } },
          },
        },
        {
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: { name: "agent" },
          spec: {
            selector: { matchLabels: { app: "agent" } },
            template: { metadata: { labels: { app: "agent" } }, spec: { containers: [{ name: "agent", image: "example.test/agent:1" }] } },
          },
        },
      ]);
      const doneSts = (await ns.rollout("sts/db", { timeoutMs: 60_000 })).unwrap() as { status: Record<string, unknown> };
      assert.equal(doneSts.status.readyReplicas, 2);
      assert.equal(doneSts.status.currentRevision, doneSts.status.updateRevision);
      const doneDs = (await ns.rollout(ds, { timeoutMs: 60_000 })).unwrap() as { status: Record<string, number> };
      assert.equal(doneDs.status.numberAvailable, 1);
      assert.equal(doneDs.status.desiredNumberScheduled, 1);
      await assert.rejects(ns.rollout({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }), /ConfigMap has no rollout/);
      await assert.rejects(ns.rollout("pod/x"), /target must be "deployment\/<name>"/);
      assert.ok(sts.metadata?.uid);
    }, { timeoutMs: 120_000 });

    t("a rollout that can never finish times out on its deadline with what it saw and the pods' state", async ({ h }) => {
      await using ns = await h.namespace("stuck");
      await ns.apply(deployment("stuck", "example.test/stuck:1", { podSpec: { nodeSelector: { "k3sbox.test/nowhere": "true" } } }));
      const t0 = Date.now();
      const progress: string[] = [];
      await assert.rejects(ns.rollout("deployment/stuck", { timeoutMs: 6_000, progress: (m) => progress.push(m) }), (err: unknown) => {
        assert.ok(err instanceof WaitError);
        assert.equal(err.timedOut, true);
        assert.equal(err.lastSeen, "0 of 2 updated replicas available");
        const m = err.message;
        assert.match(m, new RegExp(`^rollout of deployment ${ns.name}/stuck: not complete within 6s \\(last seen: 0 of 2 updated replicas available\\)\\n`));
        assert.match(m, new RegExp(`${ns.name} pods matching app=stuck \\(2\\):\\n {2}stuck-[a-z0-9]+-[a-z0-9]+: phase=Pending unschedulable: `));
        assert.match(m, /Warning events .*\n.*\[FailedScheduling\] .*didn't match Pod's node affinity\/selector/);
        return true;
      });
      const took = Date.now() - t0;
      assert.ok(took >= 6_000 && took < 16_000, `kept its 6 s deadline (took ${took} ms)`);
      assert.match(progress[0] ?? "", new RegExp(`^waiting for rollout of deployment ${ns.name}/stuck: 0 of 2 updated replicas available \\(5s\\)$`));
    }, { timeoutMs: 40_000 });

    t("a Deployment past its progress deadline fails at once, before the wait's own deadline", async ({ h }) => {
      await using ns = await h.namespace("deadline");
      await ns.apply(deployment("late", "example.test/late:1", {
        podSpec: { nodeSelector: { "k3sbox.test/nowhere": "true" } },
        spec: { progressDeadlineSeconds: 1 },
      }));
      const t0 = Date.now();
      await assert.rejects(ns.rollout("deployment/late", { timeoutMs: 60_000 }), (err: unknown) => {
        assert.ok(err instanceof WaitError);
        assert.equal(err.timedOut, false);
        assert.match(err.message, new RegExp(`^rollout of deployment ${ns.name}/late failed: exceeded its progress deadline: ReplicaSet "late-[a-z0-9]+" has timed out progressing`));
        assert.match(err.message, /\[FailedScheduling\]/);
        return true;
      });
      assert.ok(Date.now() - t0 < 45_000, "did not wait for the 60 s deadline");
    }, { timeoutMs: 70_000 });

    t("waitFor: conditions (Ready, Available, Complete) and predicates, on names and on objects", async ({ h }) => {
      await using ns = await h.namespace("waitfor");
      const [dep] = await ns.apply(deployment("api", "example.test/api:1"));
      const available = await ns.waitFor(dep, "Available", { timeoutMs: 60_000 });
      assert.equal(readTag(available)?.sourceSeq !== undefined, true);
      await ns.apply({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "migrate" },
        spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "m", image: "example.test/migrate:1" }] } } },
      } as never);
      const job = (await ns.waitFor("job/migrate", "Complete", { timeoutMs: 60_000 })).unwrap() as { status: { succeeded: number } };
      assert.equal(job.status.succeeded, 1);
      const pods = (await h.client.core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=api" })).unwrap().items;
      const pod = await ns.waitFor(`pod/${pods[0].metadata!.name}`, "Ready", { timeoutMs: 30_000 });
      assert.equal(pod.status?.phase, "Running");
      const node = await h.waitFor<{ metadata: { labels: Record<string, string> } }>("node/k3sbox-node", (n) => n.metadata.labels["kubernetes.io/hostname"] === "k3sbox-node");
      assert.equal(node.metadata.labels["kubernetes.io/hostname"], "k3sbox-node");
    }, { timeoutMs: 120_000 });

    t("waitFor times out on its deadline naming the condition and the conditions it saw", async ({ h }) => {
      await using ns = await h.namespace("never");
      await ns.apply(deployment("never", "example.test/never:1", { podSpec: { nodeSelector: { "k3sbox.test/nowhere": "true" } } }));
      const pods = async () => (await h.client.core.listNamespacedPod({ namespace: ns.name })).unwrap().items;
      const deadline = Date.now() + 20_000;
      while ((await pods()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const podName = (await pods())[0].metadata!.name!;
      const t0 = Date.now();
      await assert.rejects(ns.waitFor(`pod/${podName}`, "Ready", { timeoutMs: 2_000 }), (err: unknown) => {
        assert.ok(err instanceof WaitError);
        assert.match(
          err.message,
          new RegExp(`^waiting for pod ${ns.name}/${podName} to be Ready: not met within 2s \\(last seen: PodScheduled=False \\(Unschedulable: 0/1 nodes are available`),
        );
        assert.match(err.message, new RegExp(`${ns.name} pods matching metadata.name=${podName} \\(1\\):`));
        return true;
      });
      assert.ok(Date.now() - t0 < 12_000);
      await assert.rejects(ns.waitFor("pod/nope", "Ready", { timeoutMs: 500 }), /last seen: does not exist \(yet\)/);
      await assert.rejects(ns.waitFor("pod/x", "not a condition!"), /condition must be a condition type such as "Ready"/);
      await assert.rejects(ns.waitFor("pod/x", "Ready", { timeoutMs: -1 }), /option "timeoutMs" must be a positive, finite number of milliseconds no larger than 2147483647/);
      await assert.rejects(ns.waitFor("widget/x", "Ready"), /target must be an object with apiVersion, kind and metadata.name, or "<kind>\/<name>"/);
    }, { timeoutMs: 60_000 });

    t("diagnostics try the log tail of a crashing container (kwok's node has no kubelet: the failure to read it is reported)", async ({ h }) => {
      await using ns = await h.namespace("crash");
      await h.client.core.createNamespacedPod({
        namespace: ns.name,
        // Bound to a node kwok does not manage, so nothing rewrites the status written below.
        body: { metadata: { name: "crasher" }, spec: { nodeName: "k3sbox-absent-node", containers: [{ name: "app", image: "x/y:z" }] } },
      });
      await h.client.core.replaceNamespacedPodStatus({
        name: "crasher",
        namespace: ns.name,
        body: {
          metadata: { name: "crasher", namespace: ns.name },
          status: {
            phase: "Running",
            containerStatuses: [{
              name: "app",
              image: "x/y:z",
              imageID: "",
              ready: false,
              restartCount: 3,
              state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } },
              lastState: { terminated: { exitCode: 1, reason: "Error" } },
            }],
          },
        } as never,
      });
      const report = await ns.diagnostics();
      assert.match(report, /crasher: phase=Running reasons=CrashLoopBackOff/);
      assert.match(report, /app: \(restarts: 3, last ended: Error exit 1\) back-off 40s restarting failed container/);
      assert.match(report, new RegExp(`app log: could not read it: (get pods/log · ${ns.name}/crasher: \\d{3} |GET https://)`));
    });

    // ---- 5. namespaces ----

    t("namespace(): unique, labelled, ready for pods; removed at `await using`, by remove(), and by close()", async ({ cp, h }) => {
      let name: string;
      {
        await using ns = await h.namespace("iso");
        name = ns.name;
        assert.match(name, /^iso-[a-z0-9]{6}$/);
        const live = await h.client.core.readNamespace({ name });
        assert.equal(live.metadata?.labels?.[NAMESPACE_LABEL], "k3sbox");
        await h.client.core.readNamespacedServiceAccount({ name: "default", namespace: name });
        const [cm] = await ns.apply(configMap("inside", { a: "1" }));
        assert.equal(cm.metadata?.namespace, name, "the handle defaults the namespace");
      }
      const gone = await h.client.core.readNamespace({ name }).then((n) => n.status?.phase, (e: KubeApiError) => e.code);
      assert.ok(gone === "Terminating" || gone === 404, `deleted at the end of the block (got ${gone})`);

      const other = await h.namespace();
      assert.match(other.name, /^test-[a-z0-9]{6}$/);
      await other.remove({ wait: true, timeoutMs: 60_000 });
      await assert.rejects(h.client.core.readNamespace({ name: other.name }), (e: unknown) => (e as KubeApiError).code === 404);

      // A second set of helpers stands in for an environment: its close() removes what it left.
      const h2 = await createKubeHelpers(await loadKubeconfig(cp.kubeconfigYaml));
      const left = await h2.namespace("left");
      await h2.close();
      const phase = await h.client.core.readNamespace({ name: left.name }).then((n) => n.status?.phase, (e: KubeApiError) => e.code);
      assert.ok(phase === "Terminating" || phase === 404, `close() deleted it (got ${phase})`);
    }, { timeoutMs: 90_000 });

    t("namespace(): a bad prefix is refused before anything is created", async ({ h }) => {
      // Namespaces of earlier tests may still be finishing their deletion: compare names, not counts.
      const names = async () => (await h.client.core.listNamespace()).items.map((n) => n.metadata!.name!);
      const before = new Set(await names());
      for (const bad of ["Upper", "-x", "x_y", "a".repeat(57), ""]) {
        await assert.rejects(h.namespace(bad), (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.match(err.message, /^namespace\(\): prefix must be lowercase letters, digits and "-" .* such as "orders"; got /);
          return true;
        });
      }
      assert.deepEqual((await names()).filter((n) => !before.has(n)), [], "no namespace was created");
    });

    // ---- 6. logs ----

    t("logs(): bad input is refused clearly; a kwok pod's log fails with the API server's reason (no kubelet; real logs: composition tier)", async ({ h }) => {
      await using ns = await h.namespace("logs");
      await ns.apply(deployment("quiet", "example.test/quiet:1"));
      await ns.rollout("deployment/quiet", { timeoutMs: 60_000 });
      await assert.rejects(ns.logs("app=nothing"), { message: `logs(): no pods in namespace ${ns.name} match the selector "app=nothing"` });
      await assert.rejects(ns.logs("app=quiet", { tail: -1 }), /option "tail" must be a non-negative integer/);
      await assert.rejects(ns.logs(""), /give a pod name, a pod object or a label selector/);
      await assert.rejects(ns.logs("missing-pod"), (err: unknown) => err instanceof KubeApiError && err.code === 404);
      await assert.rejects(ns.logs("app=quiet", { timeoutMs: 3_000 }), (err: unknown) => {
        assert.match((err as Error).message, new RegExp(`(get pods/log · ${ns.name}/quiet-[a-z0-9-]+: \\d{3} |GET https://\\S+/pods/quiet-[a-z0-9-]+/log)`));
        return true;
      });
    }, { timeoutMs: 90_000 });

    // ---- 8. plain data, patch strategies ----

    t("results compare as plain data (toStrictEqual, structuredClone) and stay linked to their call", async ({ h, recorder }) => {
      await using ns = await h.namespace("plain");
      await ns.apply(configMap("cm", { x: "1" }));
      const cm = await h.client.core.readNamespacedConfigMap({ name: "cm", namespace: ns.name });
      expectStrictEqual(cm.data, { x: "1" });
      const copy = structuredClone(cm);
      assert.deepEqual(copy.data, { x: "1" });
      assert.equal(copy.metadata?.name, "cm");
      assert.equal(readTag(copy), undefined, "a clone is plain data");
      const event = recorder.events().find((e) => e.seq === readTag(cm.data)?.sourceSeq);
      assert.equal(event?.kube?.verb, "get");
      assert.equal(event?.kube?.name, "cm");
      const list = await h.client.core.listNamespacedConfigMap({ namespace: ns.name, labelSelector: "nothing=here" });
      expectStrictEqual(list.items, []);
    });

    t("patch strategies: merge and strategic-merge patches through setHeaderOptions + PatchStrategy", async ({ h }) => {
      await using ns = await h.namespace("patch");
      await ns.apply(configMap("p", { a: "1", b: "2" }));
      const merged = await h.client.core.patchNamespacedConfigMap(
        { name: "p", namespace: ns.name, body: { data: { b: null, c: "3" } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      expectStrictEqual(merged.data, { a: "1", c: "3" });
      await ns.apply(deployment("pw", "example.test/pw:1"));
      const smp = await h.client.apps.patchNamespacedDeployment(
        { name: "pw", namespace: ns.name, body: { spec: { template: { spec: { containers: [{ name: "app", image: "example.test/pw:2" }] } } } } },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      );
      assert.equal(smp.spec?.template.spec?.containers.length, 1, "strategic merge by container name");
      assert.equal(smp.spec?.template.spec?.containers[0].image, "example.test/pw:2");
    });
  });
}
