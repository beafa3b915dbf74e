// The sweep at start: every startEnvironment removes the environments whose
// owner process is provably dead — what a crash left when its watchdog could
// not clean up (the Docker daemon restarted mid-run and the watchdog gave up,
// or K3SBOX_REAPER=0). Provably dead by liveness.ts (prune's rule, stricter):
// its owner container stopped, or its pid is gone in this same PID namespace
// on this host. Never another live process's environment, never a detached
// one, never one owned on another host or in another PID namespace (prune
// judges those).
//
// It costs one listing of containers and one of networks, run beside the
// preflight; the start waits for it at its end for at most SWEEP_WAIT_MS.
// Turn it off with K3SBOX_SWEEP=0 (e.g. to keep a dead environment for
// inspection; prune remains the manual remedy).

import { type LabelledObject, listByLabel, removeContainers, removeNetworks } from "../docker.ts";
import { leaveNetwork, LABEL_JOINED } from "../docker/topology.ts";
import { envFlag } from "./env-flags.ts";
import { LABEL_ENV, LABEL_SESSION, LABEL_STATE_DIR } from "./labels.ts";
import { isProvablyDead, ownerStates } from "./liveness.ts";
import { removeEnvironmentDir, stateRootFromLabel } from "./state-dir.ts";

/** How long a start waits, at its end, for a sweep still running (its own Docker calls have deadlines too). */
export const SWEEP_WAIT_MS = 10_000;

export interface SweepResult {
  /** Environment ids removed, with the names of their containers and networks. */
  removed: { id: string; containers: string[]; networks: string[] }[];
}

let inFlight: Promise<SweepResult> | undefined;

/**
 * Removes environments whose owner is provably dead, and reports them in one
 * `progress` line. Never rejects (a failed sweep leaves things for prune);
 * concurrent starts in one process share one sweep. Off with K3SBOX_SWEEP=0.
 */
export function sweepDeadEnvironments(progress: (message: string) => void = () => {}): Promise<SweepResult> {
  if (!envFlag("K3SBOX_SWEEP", true)) return Promise.resolve({ removed: [] });
  inFlight ??= sweep().catch(() => ({ removed: [] })).finally(() => (inFlight = undefined));
  return inFlight.then((r) => {
    if (r.removed.length) progress(`removed ${describe(r)} left by dead processes`);
    return r;
  });
}

/** "environment 0a1b2c3d4e (1 container, 1 network)", or several of them. */
function describe(r: SweepResult): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = r.removed.map((e) => `${e.id} (${plural(e.containers.length, "container")}, ${plural(e.networks.length, "network")})`);
  return `${r.removed.length === 1 ? "environment" : "environments"} ${parts.join(", ")}`;
}

async function sweep(): Promise<SweepResult> {
  const [containers, networks] = await Promise.all([listByLabel("container", [LABEL_SESSION]), listByLabel("network", [LABEL_SESSION])]);
  if (containers.length + networks.length === 0) return { removed: [] };
  const owners = await ownerStates([...containers, ...networks]);
  const dead = (o: LabelledObject) => isProvablyDead(o, owners) && o.labels[LABEL_ENV] !== undefined;
  const doomedContainers = containers.filter(dead);
  const doomedNetworks = networks.filter(dead);
  if (doomedContainers.length + doomedNetworks.length === 0) return { removed: [] };

  // A process's own container joined to a network (network mode) keeps it from being removed.
  for (const n of doomedNetworks) if (n.labels[LABEL_JOINED]) await leaveNetwork(n.name, n.labels[LABEL_JOINED]).catch(() => {});
  // A failure here fails the sweep (reported as nothing removed; prune remains).
  await removeContainers(doomedContainers.map((c) => c.id));
  await removeNetworks(doomedNetworks.map((n) => n.name));

  const byEnv = new Map<string, { id: string; containers: string[]; networks: string[]; root?: string }>();
  const entry = (o: LabelledObject) => {
    const id = o.labels[LABEL_ENV];
    const e = byEnv.get(id) ?? { id, containers: [], networks: [], root: stateRootFromLabel(o.labels[LABEL_STATE_DIR]) };
    byEnv.set(id, e);
    return e;
  };
  for (const c of doomedContainers) entry(c).containers.push(c.name);
  for (const n of doomedNetworks) entry(n).networks.push(n.name);
  // Their private directories (kubeconfigs, a CA key), where they were written.
  for (const e of byEnv.values()) await removeEnvironmentDir(e.id, e.root).catch(() => {});
  return { removed: [...byEnv.values()].map(({ id, containers, networks }) => ({ id, containers, networks })) };
}
