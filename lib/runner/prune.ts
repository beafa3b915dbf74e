// Removes leftovers of crashed runs: labelled containers and networks whose
// owning process is gone (or that are older than a given age, for sessions
// on other hosts sharing the daemon). A live session's objects are never
// touched, nor this process's own.

import { type LabelledObject, listByLabel, removeContainers, removeLabelled, removeNetworks } from "../docker.ts";
import { isForeign, isLive, ownerStates } from "./liveness.ts";
import { environmentDirPath, listEnvironmentDirs, removeEnvironmentDir, stateRoot, stateRootFromLabel } from "./state-dir.ts";
import { DEFAULT_REUSE_IDLE_MS, pruneIdleReused } from "./reuse.ts";
import { LABEL_DETACHED, LABEL_ENV, LABEL_SESSION, LABEL_STATE_DIR } from "./labels.ts";

/** What `prune()` removes: by age, and whether only to report. */
export interface PruneOptions {
  /** Only remove objects at least this old. Default 0 (any age). */
  olderThanMs?: number;
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
  /** Remove reuse environments no process has attached to for this long. Default 24 h. */
  reuseIdleMs?: number;
}

/** What `prune()` removed (or, with `dryRun`, would remove) and what it left alone. */
export interface PruneResult {
  containers: string[];
  networks: string[];
  /** Environments left alone because their process is alive. */
  skippedLive: string[];
  /** Private directories (kubeconfigs) of environments that are gone. */
  dirs: string[];
  /** Reuse environments removed for being idle (see reuse.ts). */
  reused: string[];
}

// Sessions on another host cannot be checked for liveness: leave them at
// least this long, whatever `olderThanMs` says.
const FOREIGN_MIN_AGE_MS = 60 * 60 * 1000;

/**
 * Removes what crashed runs left on the Docker daemon: containers and
 * networks whose owning process is gone, their private directories, and
 * reuse environments idle for `reuseIdleMs`. A live process's environment
 * and a detached one are never touched (`k3sbox prune` on the command line).
 *
 * @example
 * ```ts
 * import { prune } from "k3sbox";
 *
 * const preview = await prune({ olderThanMs: 60 * 60_000, dryRun: true });
 * console.log(`would remove ${preview.containers.length} containers, ${preview.networks.length} networks`);
 * const removed = await prune({ olderThanMs: 60 * 60_000 });
 * console.log(removed.containers, removed.skippedLive);
 * ```
 */
export async function prune(opts: PruneOptions = {}): Promise<PruneResult> {
  const now = Date.now();
  const minAge = opts.olderThanMs ?? 0;
  const [containers, networks] = await Promise.all([
    listByLabel("container", [LABEL_SESSION]),
    listByLabel("network", [LABEL_SESSION]),
  ]);
  const live = new Set<string>();
  const owners = await ownerStates([...containers, ...networks]);
  const pick = (objects: LabelledObject[]) =>
    objects.filter((o) => {
      const age = now - o.createdAt.getTime();
      const foreign = isForeign(o, owners);
      if (isLive(o, owners) || (foreign && age < Math.max(minAge, FOREIGN_MIN_AGE_MS))) {
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
  const pruned = new Set([...doomedContainers, ...doomedNetworks].map((o) => o.labels[LABEL_ENV]).filter((id) => id && !live.has(id)));
  const dirs = (await pruneEnvironmentDirs(opts.dryRun === true, pruned)).map((id) => environmentDirPath(id));
  // Directories made under another state root (K3SBOX_STATE_DIR set then, not now): their label says where.
  for (const o of [...doomedContainers, ...doomedNetworks]) {
    const id = o.labels[LABEL_ENV];
    const root = stateRootFromLabel(o.labels[LABEL_STATE_DIR]);
    if (!id || live.has(id) || !root || root === stateRoot()) continue;
    const path = environmentDirPath(id, root);
    if (dirs.includes(path)) continue;
    if (opts.dryRun || (await removeEnvironmentDir(id, root).catch(() => false))) dirs.push(path);
  }
  const reused = await pruneIdleReused(opts.reuseIdleMs ?? DEFAULT_REUSE_IDLE_MS, opts.dryRun === true);
  return { containers: doomedContainers.map((c) => c.name), networks: doomedNetworks.map((n) => n.name), skippedLive: [...live], dirs, reused };
}

/** Removes every container and network of one environment (e.g. a detached `k3sbox up`). */
export function removeEnvironment(envId: string): Promise<{ containers: string[]; networks: string[] }> {
  return removeLabelled([`${LABEL_ENV}=${envId}`]);
}

export interface EnvironmentListing {
  id: string;
  detached: boolean;
  /** Owned by a running process (this host) or by a session on another host, which cannot be checked. */
  owned: boolean;
  containers: string[];
  createdAt: Date;
  /** The state root its private directory was made under (its label), if recorded. */
  stateRoot?: string;
}

/** Environments that have containers or networks on this daemon. */
export async function listEnvironments(): Promise<EnvironmentListing[]> {
  const byEnv = new Map<string, EnvironmentListing>();
  const [containers, networks] = await Promise.all([listByLabel("container", [LABEL_ENV]), listByLabel("network", [LABEL_ENV])]);
  const owners = await ownerStates([...containers, ...networks]);
  for (const o of [...containers, ...networks]) {
    const id = o.labels[LABEL_ENV];
    const detached = o.labels[LABEL_DETACHED] === "true";
    const owned = !detached && (isForeign(o, owners) || isLive(o, owners));
    const e = byEnv.get(id) ?? { id, detached, owned, containers: [], createdAt: o.createdAt, stateRoot: stateRootFromLabel(o.labels[LABEL_STATE_DIR]) };
    if (containers.includes(o)) e.containers.push(o.name);
    byEnv.set(id, e);
  }
  return [...byEnv.values()];
}

/**
 * Private directories (state-dir.ts) of environments that have nothing left
 * on this daemon, e.g. after a SIGKILL with the watchdog off. Only ones older
 * than a minute, so a starting environment is never raced.
 */
async function pruneEnvironmentDirs(dryRun: boolean, pruned: Set<string>): Promise<string[]> {
  const dirs = await listEnvironmentDirs(); // before the listing below: a directory is made after its containers
  const known = new Set((await listEnvironments()).map((e) => e.id));
  // In a dry run the pruned environments' objects are still listed.
  const gone = (id: string) => !known.has(id) || (dryRun && pruned.has(id));
  const orphans = dirs.filter((d) => gone(d.id) && (pruned.has(d.id) || Date.now() - d.modifiedAt.getTime() > 60_000)).map((d) => d.id);
  if (!dryRun) for (const id of orphans) await removeEnvironmentDir(id);
  return orphans;
}
