// Pure parts of the workflow helpers: manifest parsing, conflict parsing,
// rollout rules (as `kubectl rollout status`), wait targets and conditions,
// namespace names, log selectors and which containers get a log tail.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { conflictsOf } from "../../lib/kube/apply.ts";
import { failingContainer, failingContainerLog } from "../../lib/kube/diagnostics.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { isSelector } from "../../lib/kube/logs.ts";
import { ApplyError, parseManifest } from "../../lib/kube/manifest.ts";
import { namespaceName } from "../../lib/kube/namespaces.ts";
import { parseRolloutTarget, rolloutState } from "../../lib/kube/rollout-status.ts";
import { parseCondition, parseWaitTarget, summarizeConditions } from "../../lib/kube/waits.ts";
import { UnknownKindError } from "../../lib/kube/kinds.ts";
import type { V1Pod } from "../../deps.ts";

test("parseManifest: documents with 1-based indexes, empty documents skipped, objects copied", () => {
  const docs = parseManifest("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n# c\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
  assert.deepEqual(docs.map((d) => [d.index, d.object.kind]), [[1, "Namespace"], [4, "ConfigMap"]]);
  const obj = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } };
  const [parsed] = parseManifest(obj);
  assert.notEqual(parsed.object, obj);
  parsed.object.metadata!.namespace = "x";
  assert.equal((obj.metadata as { namespace?: string }).namespace, undefined, "the caller's object is not mutated");
});

test("parseManifest: empty and non-manifest input are errors naming what was given", () => {
  assert.throws(() => parseManifest(undefined as never), { message: "apply(): manifest must be YAML text, a Kubernetes object or an array of them; got undefined" });
  assert.throws(() => parseManifest(null as never, "delete"), { message: "delete(): manifest must be YAML text, a Kubernetes object or an array of them; got null" });
  assert.throws(() => parseManifest(""), { message: "apply(): manifest has no objects (empty text)" });
  assert.throws(() => parseManifest("  \n"), { message: "apply(): manifest has no objects (empty text)" });
  assert.throws(() => parseManifest("---\n---\n"), { message: "apply(): manifest has no objects (only empty YAML documents)" });
  assert.throws(() => parseManifest([]), { message: "apply(): manifest is an empty array; pass at least one object" });
  assert.throws(() => parseManifest("a: [1"), (e: unknown) => e instanceof ApplyError && e.documentIndex === 1 && /unparsable YAML/.test(e.message));
  assert.throws(() => parseManifest("- 1\n- 2\n"), /document 1 \(not an object\): each document must be a Kubernetes object mapping/);
  assert.throws(() => parseManifest("kind: ConfigMap\nmetadata: {name: x}\n", "create"), {
    message: "create: document 1 (ConfigMap x): missing apiVersion or kind",
  });
});

test("conflictsOf: reads field and manager from a server-side apply 409", () => {
  const body = {
    kind: "Status",
    reason: "Conflict",
    code: 409,
    details: {
      causes: [
        { reason: "FieldManagerConflict", message: 'conflict with "kubectl-patch" using v1', field: ".data.color" },
        { reason: "FieldManagerConflict", message: 'conflict with "helm" with subresource "scale" using apps/v1', field: ".spec.replicas" },
      ],
    },
  };
  const err = new KubeApiError("x", 409, "Conflict", JSON.stringify(body));
  assert.deepEqual(conflictsOf(err), [{ field: ".data.color", manager: "kubectl-patch" }, { field: ".spec.replicas", manager: "helm" }]);
  assert.equal(conflictsOf(new KubeApiError("x", 409, "AlreadyExists", "{}")), undefined);
  assert.equal(conflictsOf(new Error("x")), undefined);
});

test("UnknownKindError names kind, group and apiVersion", () => {
  assert.equal(
    new UnknownKindError("Widget", "k3sbox.test/v1").message,
    "kind Widget in group k3sbox.test is not served by this cluster (is its CRD installed?); apiVersion was k3sbox.test/v1",
  );
  assert.equal(new UnknownKindError("Foo", "v1").group, "");
});

const dep = (generation: number, spec: Record<string, unknown>, status: Record<string, unknown>) => ({ metadata: { generation }, spec, status });

test("Deployment rollout: generation observed, all replicas updated, no old ones left, updated ones available", () => {
  const r = (d: unknown) => rolloutState("Deployment", d);
  // The case the old waitForDeployment got wrong: old pods still Ready, new spec not observed yet.
  assert.deepEqual(r(dep(2, { replicas: 2 }, { observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 })), {
    done: false,
    message: "waiting for the controller to observe the latest spec",
  });
  assert.equal(r(dep(2, { replicas: 2 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 2 })).message, "1 of 2 replicas updated");
  assert.equal(r(dep(2, { replicas: 2 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 })).message, "1 old replica pending termination");
  assert.equal(r(dep(2, { replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 })).message, "1 of 2 updated replicas available");
  assert.deepEqual(r(dep(2, { replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 })), {
    done: true,
    message: "2 of 2 updated replicas available",
  });
  assert.equal(r(dep(1, { replicas: 0 }, { observedGeneration: 1 })).done, true, "scaled to zero is complete");
  assert.equal(r(dep(1, {}, { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 })).done, true, "replicas defaults to 1");
  const stuck = r(dep(1, { replicas: 1 }, {
    observedGeneration: 1,
    conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: 'ReplicaSet "x" has timed out progressing.' }],
  }));
  assert.deepEqual(stuck, { done: false, failed: true, message: 'exceeded its progress deadline: ReplicaSet "x" has timed out progressing.' });
});

test("StatefulSet rollout: ready replicas, partitions, revisions; OnDelete has nothing to wait for", () => {
  const r = (s: unknown) => rolloutState("StatefulSet", s);
  assert.equal(r(dep(1, { replicas: 2 }, {})).message, "waiting for the controller to observe the latest spec");
  assert.equal(r(dep(1, { replicas: 2 }, { observedGeneration: 1, readyReplicas: 1 })).message, "1 of 2 pods ready");
  assert.equal(
    r(dep(2, { replicas: 2 }, { observedGeneration: 2, readyReplicas: 2, updatedReplicas: 1, currentRevision: "a", updateRevision: "b" })).message,
    "1 of 2 pods at revision b",
  );
  assert.equal(r(dep(2, { replicas: 2 }, { observedGeneration: 2, readyReplicas: 2, currentRevision: "b", updateRevision: "b" })).done, true);
  const partitioned = { replicas: 3, updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } };
  assert.equal(r(dep(2, partitioned, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 0 })).message, "0 of 1 pods updated (partition 2)");
  assert.equal(r(dep(2, partitioned, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 })).done, true);
  assert.equal(r(dep(1, { updateStrategy: { type: "OnDelete" } }, {})).failed, true);
});

test("DaemonSet rollout: updated and available on every node it should run on", () => {
  const r = (s: unknown) => rolloutState("DaemonSet", s);
  assert.equal(r(dep(3, {}, { observedGeneration: 2 })).done, false);
  assert.equal(r(dep(1, {}, { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 })).message, "2 of 3 pods updated");
  assert.equal(r(dep(1, {}, { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 })).message, "2 of 3 updated pods available");
  assert.equal(r(dep(1, {}, { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).done, true);
  assert.equal(r(dep(1, { updateStrategy: { type: "OnDelete" } }, {})).failed, true);
});

test("rollout targets: kind/name with kubectl's short names; anything else names the allowed forms", () => {
  assert.deepEqual(parseRolloutTarget("deployment/web"), { kind: "Deployment", name: "web" });
  assert.deepEqual(parseRolloutTarget("deploy/web"), { kind: "Deployment", name: "web" });
  assert.deepEqual(parseRolloutTarget("statefulset.apps/db-0"), { kind: "StatefulSet", name: "db-0" });
  assert.deepEqual(parseRolloutTarget("ds/agent"), { kind: "DaemonSet", name: "agent" });
  for (const bad of ["web", "pod/web", "deployment/", "deployment/Web", 7]) {
    assert.throws(() => parseRolloutTarget(bad as string), /^TypeError: rollout\(\): target must be "deployment\/<name>", "statefulset\/<name>" or "daemonset\/<name>"/);
  }
});

test("wait targets and conditions", () => {
  assert.deepEqual(parseWaitTarget("pod/web-0", "ns1"), { apiVersion: "v1", kind: "Pod", name: "web-0", namespace: "ns1" });
  assert.deepEqual(parseWaitTarget("jobs/migrate"), { apiVersion: "batch/v1", kind: "Job", name: "migrate", namespace: undefined });
  assert.deepEqual(parseWaitTarget("ns/x"), { apiVersion: "v1", kind: "Namespace", name: "x", namespace: undefined });
  assert.deepEqual(parseWaitTarget({ apiVersion: "k3sbox.test/v1", kind: "Widget", metadata: { name: "w", namespace: "shop" } }, "other"), {
    apiVersion: "k3sbox.test/v1",
    kind: "Widget",
    name: "w",
    namespace: "shop",
  });
  assert.throws(() => parseWaitTarget("gadget/x"), /target must be an object with apiVersion, kind and metadata.name, or "<kind>\/<name>" with kind one of pod, po,/);
  assert.throws(() => parseWaitTarget({ kind: "Pod" }), /target must be an object with apiVersion, kind and metadata.name/);
  assert.deepEqual(parseCondition("Ready"), { type: "Ready", status: "True" });
  assert.deepEqual(parseCondition("Ready=false"), { type: "Ready", status: "False" });
  assert.deepEqual(parseCondition("Available=Unknown"), { type: "Available", status: "Unknown" });
  assert.throws(() => parseCondition("Ready=maybe"), /condition must be a condition type such as "Ready"/);
  assert.equal(summarizeConditions({}), "no status conditions yet");
  assert.equal(
    summarizeConditions({ status: { conditions: [{ type: "Ready", status: "False", reason: "ContainersNotReady", message: "app" }, { type: "PodScheduled", status: "True" }] } }),
    "Ready=False (ContainersNotReady: app), PodScheduled=True",
  );
});

test("namespace names: prefix plus 6 random characters, prefix validated", () => {
  const a = namespaceName("orders");
  const b = namespaceName("orders");
  assert.match(a, /^orders-[a-z0-9]{6}$/);
  assert.notEqual(a, b);
  assert.match(namespaceName(), /^test-[a-z0-9]{6}$/);
  assert.equal(namespaceName("a".repeat(56)).length, 63);
  for (const bad of ["a".repeat(57), "Orders", "-a", "a-", "a.b", "", 5]) {
    assert.throws(() => namespaceName(bad), /^TypeError: namespace\(\): prefix must be lowercase letters/);
  }
});

test("a failing container's log when the kubelet no longer has the instance the status names: the other instance's (kubelet answers simulated: the race needs a crash loop's exact timing)", async () => {
  const gone = "unable to retrieve container logs for containerd://68a427bc94d5";
  // What the kubelet answers for ?previous=true and for the current instance.
  const kubelet = (previous: string | Error, current: string | Error) => (_path: string, query: Record<string, string>) => {
    const answer = query.previous === "true" ? previous : current;
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  };
  const log = (getText: ReturnType<typeof kubelet>) => failingContainerLog(getText, "ns", "crash-1", "app", 20, true);
  assert.deepEqual(await log(kubelet("fatal: no config\n", "fatal: no config\n")), { text: "fatal: no config\n", previous: true });
  assert.deepEqual(await log(kubelet(gone, "fatal: no config\n")), { text: "fatal: no config\n", previous: false });
  // The other instance has nothing to show (waiting to start, or empty): the kubelet's own words stay.
  assert.deepEqual(await log(kubelet(gone, new Error('400: container "app" in pod "crash-1" is waiting to start'))), { text: gone, previous: true });
  assert.deepEqual(await log(kubelet(gone, "")), { text: gone, previous: true });
  // The instance's log file removed rather than its container (seen in a full test run).
  const fileGone = 'failed to try resolving symlinks in path "/var/log/pods/crash_crash-1_e793/app/1.log": lstat /var/log/pods/crash_crash-1_e793/app/1.log: no such file or directory';
  assert.deepEqual(await log(kubelet(fileGone, "fatal: no config\n")), { text: "fatal: no config\n", previous: false });
  assert.deepEqual(await log(kubelet("a line that says failed to try resolving symlinks in path\n", "x")), { text: "a line that says failed to try resolving symlinks in path\n", previous: true }, "a log that merely mentions it is a log");
  // The kubelet refuses the instance the status named (replaced in between), or it has just started and
  // wrote nothing yet: the other instance's log. When neither has one, the refusal is what is reported.
  const refused = new Error('400: previous terminated container "app" in pod "crash-1" not found');
  assert.deepEqual(await log(kubelet(refused, "fatal: no config\n")), { text: "fatal: no config\n", previous: false });
  assert.deepEqual(await failingContainerLog(kubelet("fatal: no config\n", ""), "ns", "crash-1", "app", 20, false), { text: "fatal: no config\n", previous: true });
  await assert.rejects(log(kubelet(refused, "")), refused);
  assert.deepEqual(await log(kubelet("", "")), { text: "", previous: true });
});

test("logs: a selector is told from a pod name", () => {
  for (const s of ["app=web", "app!=web", "tier in (a,b)", "app=web,tier=db", "!canary"]) assert.equal(isSelector(s), true, s);
  for (const s of ["web-7d9f8b-x2x1z", "db-0"]) assert.equal(isSelector(s), false, s);
});

test("which containers get a log tail: crashed, failing or unready ones — not never-started or healthy ones", () => {
  const pod = (phase: string) => ({ status: { phase } }) as V1Pod;
  const c = (s: Record<string, unknown>) => ({ name: "app", image: "x", imageID: "", ready: false, restartCount: 0, ...s }) as never;
  assert.deepEqual(failingContainer(pod("Running"), c({ restartCount: 2, state: { waiting: { reason: "CrashLoopBackOff" } } })), { previous: true });
  assert.equal(failingContainer(pod("Pending"), c({ state: { waiting: { reason: "ErrImagePull" } } })), undefined);
  assert.deepEqual(failingContainer(pod("Failed"), c({ state: { terminated: { exitCode: 2 } } })), { previous: false });
  assert.equal(failingContainer(pod("Running"), c({ state: { terminated: { exitCode: 0 } } })), undefined);
  assert.deepEqual(failingContainer(pod("Running"), c({ state: { running: {} } })), { previous: false });
  assert.equal(failingContainer(pod("Running"), c({ ready: true, state: { running: {} } })), undefined);
  // Between two crashes of a crash loop: running (and ready, with no probe), the last instance crashed.
  assert.deepEqual(failingContainer(pod("Running"), c({ ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { exitCode: 3, reason: "Error" } } })), { previous: true });
  assert.equal(failingContainer(pod("Succeeded"), c({ state: { terminated: { exitCode: 1 } } })), undefined);
});
