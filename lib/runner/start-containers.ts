// The "containers" and "reach" steps: each service's container created,
// given its files and started (or, attaching, the reused one found), where
// this process dials it per the topology, and proof that it can.

import {
  connectNetwork,
  type ContainerInfo,
  copyInto,
  createContainer,
  DockerError,
  inspectContainer,
  startContainer,
  waitExit,
} from "../docker.ts";
import { type Topology, TopologyError } from "../docker/topology.ts";
import { addHostEntry } from "../docker/host-address.ts";
import { startSshForward } from "../docker/ssh-forward.ts";
import { archiveOf } from "../docker/archive.ts";
import { expandServiceToken, fileMode } from "../service.ts";
import { containerName, LABEL_SERVICE, networkName } from "./labels.ts";
import { hookTimeoutMs, runHook } from "./hooks.ts";
import { proveReachable, type ReachTarget } from "./reach.ts";
import { validateFiles } from "./validate.ts";
import type { AnyDefinition } from "./environment-options.ts";
import type { StartRun } from "./start-run.ts";

/** How long the published ports may take to accept a connection before the start fails as unreachable. */
const REACH_WINDOW_MS = 2_000;

/** Creates and starts every service's container (after its `prepare` hook), then forwards ports where the topology needs it. */
export async function containersCreate(run: StartRun): Promise<void> {
  await Promise.all(run.keys.map((key) => createServiceContainer(run, key)));
  await forwardSshPorts(run);
}

/** Finds the reused environment's containers and where this process reaches them. */
export async function containersAttach(run: StartRun): Promise<void> {
  const network = networkName(run.envId);
  await Promise.all(run.keys.map(async (key) => {
    run.res.checkNotStopping();
    const id = run.attach!.containers[key];
    watchExit(run, key, id);
    const info = await inspectContainer(id);
    const at = endpointOf(run.topology, info, network);
    run.running[key] = { key, containerId: id, containerName: containerName(run.envId, key), ip: info.networks[network]?.ip ?? "", ...at, daemonPorts: info.bindings["127.0.0.1"] ?? {} };
  }));
  await forwardSshPorts(run);
}

async function createServiceContainer(run: StartRun, key: string): Promise<void> {
  const { res, topology, host, hostFacts, reachHosts } = run;
  const def = run.services[key];
  const name = containerName(run.envId, key);
  res.checkNotStopping();
  const prepared = def.prepare
    ? await runHook(key, "prepare", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.prepare!({ name: key, image: def.image.reference, progress: run.progress, signal }))
    : {};
  run.preparedOf.set(key, prepared);
  res.checkNotStopping();
  const id = await res.creating(createContainer({
    name,
    image: def.image.reference,
    network: res.network,
    aliases: [key, `${key}.internal`],
    labels: { ...run.labels, [LABEL_SERVICE]: key },
    env: def.env,
    tmpfs: def.tmpfs,
    privilege: Object.hasOwn(host.privileges, key) ? host.privileges[key] : undefined, // own keys: "constructor" is a valid service key
    cgroupns: def.cgroupns,
    publish: def.ports,
    mounts: prepared.mounts,
    publishHost: topology.mode === "published" ? topology.publishHost : undefined,
    addHosts: [addHostEntry(run.hostAddress)].filter((h): h is string => h !== undefined),
    ...commandOf(def, key, reachHosts),
  }));
  await res.adoptContainer(id);
  for (const net of prepared.networks ?? []) await connectNetwork(net, id);
  const files = typeof def.files === "function" ? def.files(hostFacts) : def.files ?? [];
  validateFiles(key, files, typeof def.files === "function" ? "files (the function's result)" : "files");
  run.filesOf.set(key, files);
  if (files.length > 0) {
    await copyInto(id, await archiveOf(files.map((f) => ({ path: f.path, content: expandServiceToken(f.content, key, reachHosts), mode: fileMode(f) }))));
  }
  res.checkNotStopping();
  await startContainer(id).catch((e) => Promise.reject(publishRefused(e, topology, key)));
  watchExit(run, key, id);
  const info = await inspectContainer(id);
  const at = endpointOf(topology, info, res.network!);
  run.running[key] = { key, containerId: id, containerName: name, ip: info.networks[res.network!]?.ip ?? "", ...at, daemonPorts: info.bindings["127.0.0.1"] ?? {} };
}

/** The container's exit, for the start's later steps (start-services.ts) and cancelled at stop. */
function watchExit(run: StartRun, key: string, id: string): void {
  const exit = waitExit(id);
  run.res.waits.push(exit);
  run.exits[key] = exit;
}

/** ssh://: the ports are on the remote host's 127.0.0.1; one ssh forwards them here. */
async function forwardSshPorts(run: StartRun): Promise<void> {
  const { topology, running, keys, res } = run;
  if (topology.kind !== "ssh" || !topology.sshDestination) return;
  const remote = [...new Set(keys.flatMap((key) => Object.values(running[key].daemonPorts)))];
  if (!remote.length) return;
  const forward = await startSshForward(topology.sshDestination, remote).catch((e: Error) => {
    throw new TopologyError(`${e.message}\nTopology: ${topology.kind} — ${topology.reason}.\nTo change it: ${topology.hint}.`);
  });
  res.disposers.push(() => forward.stop());
  for (const key of keys) {
    running[key].ports = Object.fromEntries(Object.entries(running[key].daemonPorts).map(([cp, p]) => [cp, forward.ports[p]]));
  }
}

/** The "reach" step: a wrong address fails here, in seconds, not as a readiness timeout. */
export async function reachPorts(run: StartRun): Promise<void> {
  const { running } = run;
  const targets: ReachTarget[] = run.keys.flatMap((key) =>
    Object.entries(running[key].ports).map(([cp, p]) => ({ service: key, host: running[key].host, port: p, containerPort: Number(cp) }))
  );
  await proveReachable(run.topology, targets, REACH_WINDOW_MS, run.res.abort.signal);
}

/** Container command as Docker entrypoint + args. */
function commandOf(def: AnyDefinition, key: string, hosts: string[]): { entrypoint?: string; command?: string[] } {
  if (def.command === undefined) return {};
  if (typeof def.command === "string") return { entrypoint: "/bin/sh", command: ["-c", expandServiceToken(def.command, key, hosts)] };
  const [entrypoint, ...rest] = def.command.map((c) => expandServiceToken(c, key, hosts));
  return { entrypoint, command: rest };
}

/** Where this process reaches a started container, per the topology. */
function endpointOf(topology: Topology, info: ContainerInfo, network: string): { host: string; ports: Record<number, number> } {
  if (topology.mode === "network") {
    const ports: Record<number, number> = {};
    for (const p of Object.keys(info.ports)) ports[Number(p)] = Number(p);
    return { host: info.networks[network]?.ip ?? "", ports };
  }
  return { host: topology.dialHost, ports: info.bindings[topology.publishHost] ?? info.ports };
}

/** A published port Docker could not bind: the topology's address is not the daemon host's. */
function publishRefused(err: unknown, topology: Topology, key: string): Error {
  if (!(err instanceof DockerError) || !/cannot assign requested address|address not available|bind/i.test(err.stderr)) return err as Error;
  return new TopologyError(
    `service "${key}": Docker cannot publish ports on ${topology.publishHost} of the daemon's host (${err.message.split("\n")[0]}).\n` +
      `Topology: ${topology.kind} — ${topology.reason}.\nTo change it: ${topology.hint}.`,
  );
}
