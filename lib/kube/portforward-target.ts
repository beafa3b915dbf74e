// Which pod a port-forward goes to ("pod/web-0", or a Service's first ready
// pod and its targetPort), and whether that pod is still there when one of
// its connections ends.

import type { CoreV1Api, V1Pod } from "../../deps.ts";
import { KubeApiError } from "./errors.ts";
import { PortForwardError } from "./portforward-api.ts";
import type { Tagged } from "./tagging.ts";

/** How long the check "is the pod still there?" may take when a pod closes a connection. */
const POD_CHECK_TIMEOUT_MS = 3_000;

/** What port-forward needs from the typed client to resolve its target. */
export interface PortForwardLookups {
  core: Tagged<CoreV1Api>;
}

const isNotFound = (err: unknown) => err instanceof KubeApiError && err.code === 404;
const isReady = (p: V1Pod) =>
  !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** "service/web", "svc/web", "pod/web-0" or "web-0". */
export function parseForwardTarget(target: string): { kind: "pod" | "service"; name: string } {
  const m = /^(?:(pod|pods|po|service|services|svc)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(typeof target === "string" ? target : "");
  if (!m) throw new TypeError(`portForward(): target must be "pod/<name>", "service/<name>" or a pod name; got ${JSON.stringify(target)}`);
  return { kind: m[1]?.startsWith("s") ? "service" : "pod", name: m[2] };
}

/**
 * Resolves the target to one pod and its port, as kubectl does: a Service's
 * port (which must be one of its ports) becomes its targetPort (a named
 * targetPort looked up among the pod's container ports), on the first ready
 * pod its selector matches.
 */
export async function resolveForwardTarget(
  lookups: PortForwardLookups,
  target: string,
  remotePort: number,
  namespace: string,
): Promise<{ namespace: string; name: string; port: number }> {
  const { kind, name } = parseForwardTarget(target);
  const core = lookups.core;
  if (kind === "pod") {
    let pod: V1Pod;
    try {
      pod = (await core.readNamespacedPod({ namespace, name })).unwrap();
    } catch (err) {
      if (isNotFound(err)) throw new PortForwardError(`portForward(): pod ${namespace}/${name} not found`, { cause: err });
      throw err;
    }
    if (pod.status?.phase !== "Running") {
      throw new PortForwardError(`portForward(): pod ${namespace}/${name} is not running (phase ${pod.status?.phase ?? "unknown"})`);
    }
    return { namespace, name, port: remotePort };
  }
  let svc;
  try {
    svc = (await core.readNamespacedService({ namespace, name })).unwrap();
  } catch (err) {
    if (isNotFound(err)) throw new PortForwardError(`portForward(): service ${namespace}/${name} not found`, { cause: err });
    throw err;
  }
  const selector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
  if (!selector) throw new PortForwardError(`portForward(): service ${namespace}/${name} has no selector, so no pod to forward to`);
  const svcPort = (svc.spec?.ports ?? []).find((p) => p.port === remotePort);
  if (!svcPort) {
    const ports = (svc.spec?.ports ?? []).map((p) => p.port).join(", ") || "none";
    throw new PortForwardError(`portForward(): service ${namespace}/${name} has no port ${remotePort} (its ports: ${ports})`);
  }
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).unwrap().items;
  const pod = pods.filter(isReady).sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1))[0];
  if (!pod) throw new PortForwardError(`portForward(): service ${namespace}/${name} has no ready pod (selector ${selector}, ${pods.length} pod(s) match)`);
  const tp = svcPort.targetPort as number | string | undefined;
  let port = remotePort;
  if (typeof tp === "number") port = tp;
  else if (typeof tp === "string" && /^\d+$/.test(tp)) port = Number(tp);
  else if (typeof tp === "string") {
    const named = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === tp);
    if (!named) throw new PortForwardError(`portForward(): service ${namespace}/${name} targets port "${tp}", which no container of pod ${pod.metadata!.name} names`);
    port = named.containerPort;
  }
  return { namespace, name: pod.metadata!.name!, port };
}

/** After the pod side ended a connection: is the pod gone or going? Then that is the reason. */
export async function podGoneReason(lookups: PortForwardLookups, pod: { namespace: string; name: string }): Promise<string | undefined> {
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = lookups.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name });
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no answer")), POD_CHECK_TIMEOUT_MS)));
    const p = (await Promise.race([read, late]).finally(() => clearTimeout(timer))).unwrap();
    if (p.metadata?.deletionTimestamp) return `pod ${pod.namespace}/${pod.name} is being deleted`;
    if (p.status?.phase !== "Running") return `pod ${pod.namespace}/${pod.name} is no longer running (phase ${p.status?.phase})`;
    return undefined;
  } catch (err) {
    return isNotFound(err) ? `pod ${pod.namespace}/${pod.name} no longer exists` : undefined;
  }
}
