// Whether the process that owns a labelled container or network is alive:
// the one rule prune, `down`, `k3sbox list` and the sweep at start
// (sweep.ts) judge by. This process's own session and detached environments
// are live; an owner in another container's PID namespace is alive while
// that container runs; on this host, while its pid exists; on another host
// it cannot be checked (foreign).

import { type LabelledObject, runningContainerIds } from "../docker.ts";
import { detectTopology } from "../docker/topology.ts";
import { isProcessAlive } from "../exec.ts";
import { HOST_NAME, LABEL_DETACHED, LABEL_HOST, LABEL_OWNER_CONTAINER, LABEL_PID, LABEL_PIDNS, LABEL_SESSION, PID_NAMESPACE, SESSION_ID } from "./labels.ts";

/** True when the object belongs to a running session, or to a detached environment (removed by `down`). */
export function isLive(o: LabelledObject, owners: OwnerStates): boolean {
  if (o.labels[LABEL_SESSION] === SESSION_ID || o.labels[LABEL_DETACHED] === "true") return true;
  const owner = o.labels[LABEL_OWNER_CONTAINER];
  // Owned from another container's PID namespace: alive while that container runs.
  if (owner && owner !== owners.self) return owners.running.has(owner);
  if (o.labels[LABEL_HOST] !== HOST_NAME) return false; // another host: judged by age only
  const pid = Number(o.labels[LABEL_PID]);
  return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid);
}

/**
 * The owner is provably dead: its owner container stopped, or its pid is
 * gone in this very PID namespace on this host. Stricter than `!isLive`
 * (prune's rule, which an operator runs knowingly): what the sweep at start
 * removes on its own. Objects without LABEL_PIDNS (older versions) are left
 * to prune.
 */
export function isProvablyDead(o: LabelledObject, owners: OwnerStates): boolean {
  if (isLive(o, owners)) return false;
  const owner = o.labels[LABEL_OWNER_CONTAINER];
  if (owner && owner !== owners.self) return true; // its container is not running
  return o.labels[LABEL_HOST] === HOST_NAME && o.labels[LABEL_PIDNS] === PID_NAMESPACE;
}

/** Sessions on another host whose liveness cannot be checked (no owner container this daemon knows). */
export function isForeign(o: LabelledObject, owners: OwnerStates): boolean {
  const owner = o.labels[LABEL_OWNER_CONTAINER];
  if (owner && owner !== owners.self) return false;
  return o.labels[LABEL_HOST] !== HOST_NAME;
}

export interface OwnerStates {
  /** The container this process runs in, if the daemon has it. */
  self?: string;
  /** Owner containers (LABEL_OWNER_CONTAINER) that are running. */
  running: Set<string>;
}

/** Which owner containers named on `objects` are running, and which one is this process's. */
export async function ownerStates(objects: LabelledObject[]): Promise<OwnerStates> {
  const owners = [...new Set(objects.map((o) => o.labels[LABEL_OWNER_CONTAINER]).filter((id): id is string => !!id && /^[0-9a-f]{12,64}$/.test(id)))];
  const self = owners.length ? (await detectTopology().catch(() => undefined))?.processContainer : undefined;
  return { self, running: await runningContainerIds(owners) };
}
