// Is a workload's rollout complete? The rules of `kubectl rollout status`,
// as pure functions of the object: the controller must have observed the
// current generation, every replica must run the new template, and the new
// replicas must be ready/available. Pure, so it is tested without a cluster.

export type RolloutKind = "Deployment" | "StatefulSet" | "DaemonSet";

/** What `rolloutState` says about a workload: whether its rollout is done, and what is still missing. */
export interface RolloutState {
  done: boolean;
  /** What is still missing, or why it will never finish ("exceeded its progress deadline"). */
  message: string;
  /** The rollout cannot finish by waiting (progress deadline exceeded, unsupported strategy). */
  failed?: boolean;
}

// The fields read here, loosely typed: callers pass client-node models or plain JSON.
interface Workload {
  metadata?: { generation?: number; name?: string };
  spec?: {
    replicas?: number;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

const notObserved = (w: Workload) => (w.metadata?.generation ?? 0) > (w.status?.observedGeneration ?? 0);
const WAITING_FOR_CONTROLLER = "waiting for the controller to observe the latest spec";

export function deploymentRolloutState(d: Workload): RolloutState {
  if (notObserved(d)) return { done: false, message: WAITING_FOR_CONTROLLER };
  const s = d.status ?? {};
  const progressing = s.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return { done: false, failed: true, message: `exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ""}` };
  }
  const want = d.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  const total = s.replicas ?? 0;
  const available = s.availableReplicas ?? 0;
  if (updated < want) return { done: false, message: `${updated} of ${want} replicas updated` };
  if (total > updated) return { done: false, message: `${total - updated} old replica${total - updated === 1 ? "" : "s"} pending termination` };
  if (available < updated) return { done: false, message: `${available} of ${updated} updated replicas available` };
  return { done: true, message: `${available} of ${want} updated replicas available` };
}

export function statefulSetRolloutState(s: Workload): RolloutState {
  const strategy = s.spec?.updateStrategy?.type ?? "RollingUpdate";
  if (strategy !== "RollingUpdate") {
    return { done: false, failed: true, message: `updateStrategy ${strategy} has no rollout to wait for (only RollingUpdate)` };
  }
  if (!s.status?.observedGeneration || notObserved(s)) return { done: false, message: WAITING_FOR_CONTROLLER };
  const st = s.status;
  const want = s.spec?.replicas ?? 1;
  const ready = st.readyReplicas ?? 0;
  if (ready < want) return { done: false, message: `${ready} of ${want} pods ready` };
  const partition = s.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (partition > 0) {
    const updated = st.updatedReplicas ?? 0;
    const needed = Math.max(0, want - partition);
    if (updated < needed) return { done: false, message: `${updated} of ${needed} pods updated (partition ${partition})` };
    return { done: true, message: `${updated} pods updated (partition ${partition})` };
  }
  if (st.updateRevision !== st.currentRevision) {
    return { done: false, message: `${st.updatedReplicas ?? 0} of ${want} pods at revision ${st.updateRevision}` };
  }
  return { done: true, message: `${ready} of ${want} pods ready at revision ${st.currentRevision}` };
}

export function daemonSetRolloutState(ds: Workload): RolloutState {
  const strategy = ds.spec?.updateStrategy?.type ?? "RollingUpdate";
  if (strategy !== "RollingUpdate") {
    return { done: false, failed: true, message: `updateStrategy ${strategy} has no rollout to wait for (only RollingUpdate)` };
  }
  if (notObserved(ds)) return { done: false, message: WAITING_FOR_CONTROLLER };
  const st = ds.status ?? {};
  const want = st.desiredNumberScheduled ?? 0;
  const updated = st.updatedNumberScheduled ?? 0;
  const available = st.numberAvailable ?? 0;
  if (updated < want) return { done: false, message: `${updated} of ${want} pods updated` };
  if (available < want) return { done: false, message: `${available} of ${want} updated pods available` };
  return { done: true, message: `${available} of ${want} pods available` };
}

/**
 * Whether a Deployment, StatefulSet or DaemonSet has rolled out its current
 * spec, by the rules of `kubectl rollout status`, from the object alone
 * (what `rollout()` polls).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rolloutState } from "k3sbox";
 *
 * const deployment = {
 *   metadata: { generation: 2 },
 *   spec: { replicas: 3 },
 *   status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 },
 * };
 * assert.deepEqual(rolloutState("Deployment", deployment), { done: false, message: "2 of 3 updated replicas available" });
 * ```
 */
export function rolloutState(kind: RolloutKind, obj: unknown): RolloutState {
  const w = obj as Workload;
  if (kind === "Deployment") return deploymentRolloutState(w);
  if (kind === "StatefulSet") return statefulSetRolloutState(w);
  return daemonSetRolloutState(w);
}

/**
 * "deployment/web", "deploy/web", "sts/db", "ds/agent", "statefulset.apps/db"
 * → the kind and name; anything else is an error naming the allowed forms.
 */
export function parseRolloutTarget(target: string): { kind: RolloutKind; name: string } {
  const m = typeof target === "string" ? /^([a-zA-Z.]+)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(target) : null;
  const kind = m ? KIND_ALIASES[m[1].toLowerCase().replace(/\.apps$/, "")] : undefined;
  if (!m || !kind) {
    throw new TypeError(
      `rollout(): target must be "deployment/<name>", "statefulset/<name>" or "daemonset/<name>" (or deploy/, sts/, ds/); got ${JSON.stringify(target)}`,
    );
  }
  return { kind, name: m[2] };
}

const KIND_ALIASES: Record<string, RolloutKind> = {
  deployment: "Deployment",
  deployments: "Deployment",
  deploy: "Deployment",
  statefulset: "StatefulSet",
  statefulsets: "StatefulSet",
  sts: "StatefulSet",
  daemonset: "DaemonSet",
  daemonsets: "DaemonSet",
  ds: "DaemonSet",
};
