// Removes leftovers of crashed runs: labelled containers and networks whose
// owning process is gone (or that are older than a given age, for sessions
// on other hosts sharing the daemon). A live session's objects are never
// touched, nor this process's own.

import { type LabelledObject, listByLabel, removeContainers, removeNetworks } from "../docker.ts";
import { isProcessAlive } from "../proc.ts";
import { HOST_NAME, LABEL_DETACHED, LABEL_ENV, LABEL_HOST, LABEL_PID, LABEL_SESSION, SESSION_ID } from "./labels.ts";

export interface PruneOptions {
  /** Only remove objects at least this old. Default 0 (any age). */
  olderThanMs?: number;
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
}

export interface PruneResult {
  containers: string[];
  networks: string[];
  /** Environments left alone because their process is alive. */
  skippedLive: string[];
}

/** True when the object belongs to a running session, or to a detached environment (removed by `down`). */
function isLive(o: LabelledObject): boolean {
  if (o.labels[LABEL_SESSION] === SESSION_ID || o.labels[LABEL_DETACHED] === "true") return true;
  if (o.labels[LABEL_HOST] !== HOST_NAME) return false; // another host: judged by age only
  const pid = Number(o.labels[LABEL_PID]);
  return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid);
}

// Sessions on another host cannot be checked for liveness: leave them at
// least this long, whatever `olderThanMs` says.
const FOREIGN_MIN_AGE_MS = 60 * 60 * 1000;

export async function prune(opts: PruneOptions = {}): Promise<PruneResult> {
  const now = Date.now();
  const minAge = opts.olderThanMs ?? 0;
  const [containers, networks] = await Promise.all([
    listByLabel("container", [LABEL_SESSION]),
    listByLabel("network", [LABEL_SESSION]),
  ]);
  const live = new Set<string>();
  const pick = (objects: LabelledObject[]) =>
    objects.filter((o) => {
      const age = now - o.createdAt.getTime();
      const foreign = o.labels[LABEL_HOST] !== HOST_NAME;
      if (isLive(o) || (foreign && age < Math.max(minAge, FOREIGN_MIN_AGE_MS))) {
        live.add(o.labels[LABEL_ENV] ?? o.name);
        return false;
      }
      return age >= minAge;
    });
  const doomedContainers = pick(containers);
  const doomedNetworks = pick(networks);
  if (!opts.dryRun) {
    await removeContainers(doomedContainers.map((c) => c.id));
    await removeNetworks(doomedNetworks.map((n) => n.name));
  }
  return { containers: doomedContainers.map((c) => c.name), networks: doomedNetworks.map((n) => n.name), skippedLive: [...live] };
}

/**
 * Removes the containers, then the networks, carrying every label of
 * `filter` (and passing `keep`). Returns the names removed.
 */
export async function removeLabelled(
  filter: string[],
  keep: (o: LabelledObject) => boolean = () => true,
): Promise<{ containers: string[]; networks: string[] }> {
  const [containers, networks] = await Promise.all([listByLabel("container", filter), listByLabel("network", filter)]);
  const doomedContainers = containers.filter(keep);
  const doomedNetworks = networks.filter(keep);
  await removeContainers(doomedContainers.map((c) => c.id));
  await removeNetworks(doomedNetworks.map((n) => n.name));
  return { containers: doomedContainers.map((c) => c.name), networks: doomedNetworks.map((n) => n.name) };
}

/** Removes every container and network of one environment (e.g. a detached `k3sbox up`). */
export function removeEnvironment(envId: string): Promise<{ containers: string[]; networks: string[] }> {
  return removeLabelled([`${LABEL_ENV}=${envId}`]);
}

/** Environments that have containers on this daemon, with their services. */
export async function listEnvironments(): Promise<{ id: string; detached: boolean; containers: string[]; createdAt: Date }[]> {
  const byEnv = new Map<string, { id: string; detached: boolean; containers: string[]; createdAt: Date }>();
  for (const c of await listByLabel("container", [LABEL_ENV])) {
    const id = c.labels[LABEL_ENV];
    const e = byEnv.get(id) ?? { id, detached: c.labels[LABEL_DETACHED] === "true", containers: [], createdAt: c.createdAt };
    e.containers.push(c.name);
    byEnv.set(id, e);
  }
  return [...byEnv.values()];
}
