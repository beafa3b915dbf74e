// Companion containers: further containers a service starts from its
// `setup` hook (ctx.startCompanion), e.g. k3s agent nodes. Generic: the
// runner knows nothing of what runs in them. They run like their service's
// container (its image by default, privilege, tmpfs, cgroup namespace, the
// volumes and networks `prepare` handed it, its files), carry the environment's labels and are adopted by the
// environment's resources, so stop(), prune and the crash watchdog remove
// them exactly like service containers.

import { type ContainerSpec, copyInto, createContainer, inspectContainer, listByLabel, startContainer } from "../docker.ts";
import type { Privilege } from "../docker.ts";
import type { VolumeMount } from "../docker/volumes.ts";
import { type CompanionSpec, expandServiceToken, fileMode, type RunningCompanion, type ServiceDefinition, type ServiceFile } from "../service.ts";
import { archiveOf } from "../docker/archive.ts";
import { containerName, LABEL_ENV, LABEL_SERVICE } from "./labels.ts";
import { validateFiles } from "./validate.ts";
import { isDnsLabel } from "../names.ts";

/** Label naming a companion container within its service. */
export const LABEL_COMPANION = "k3sbox.companion";

/** What the runner knows about the owning service when a companion starts. */
export interface CompanionOwner {
  envId: string;
  key: string;
  // deno-lint-ignore no-explicit-any
  def: ServiceDefinition<any>;
  network: string;
  labels: Record<string, string>;
  privilege?: Privilege;
  mounts?: VolumeMount[];
  networks?: string[];
  /** The service's own files (its `files`, resolved): a companion gets them too, then its own. */
  files: ServiceFile[];
  /** Reach hosts for `{{K3SBOX_HOSTS}}` in commands and files. */
  reachHosts: string[];
  /** Records the container for teardown (removes it at once if the environment is stopping). */
  adopt(id: string): Promise<void>;
  /** Runs a Docker create that teardown waits for. */
  creating<T>(create: Promise<T>): Promise<T>;
  connect(network: string, id: string): Promise<void>;
}

/** A companion's name, checked: a DNS label, at most 32 characters, unique within its service. */
export function checkCompanionName(key: string, name: unknown, taken: ReadonlySet<string>): string {
  if (!isDnsLabel(name, 32)) {
    throw new Error(`service "${key}": companion name must be a DNS label of 1-32 lowercase letters, digits and '-'; got ${JSON.stringify(name)}`);
  }
  if (taken.has(name)) throw new Error(`service "${key}": a companion named "${name}" already runs`);
  return name;
}

/** The container spec of a companion (pure: tested without Docker). */
export function companionContainerSpec(owner: CompanionOwner, spec: CompanionSpec): ContainerSpec {
  const alias = `${owner.key}-${spec.name}`;
  const command = spec.command === undefined
    ? {}
    : typeof spec.command === "string"
    ? { entrypoint: "/bin/sh", command: ["-c", expandServiceToken(spec.command, owner.key, owner.reachHosts)] }
    : (([entrypoint, ...rest]) => ({ entrypoint, command: rest }))(spec.command.map((c) => expandServiceToken(c, owner.key, owner.reachHosts)));
  return {
    name: `${containerName(owner.envId, owner.key)}-${spec.name}`,
    image: spec.image ?? owner.def.image.reference,
    network: owner.network,
    aliases: [alias, `${alias}.internal`],
    labels: { ...owner.labels, [LABEL_SERVICE]: owner.key, [LABEL_COMPANION]: spec.name },
    env: spec.env,
    tmpfs: owner.def.tmpfs,
    privilege: owner.privilege,
    cgroupns: owner.def.cgroupns,
    mounts: owner.mounts,
    ...command,
  };
}

/** Creates, fills and starts one companion; the caller checked its name. */
export async function startCompanion(owner: CompanionOwner, spec: CompanionSpec): Promise<RunningCompanion> {
  validateFiles(owner.key, spec.files ?? [], `companions.${spec.name}.files`);
  const own = new Set((spec.files ?? []).map((f) => f.path));
  const files = [...owner.files.filter((f) => !own.has(f.path)), ...(spec.files ?? [])];
  const container = companionContainerSpec(owner, spec);
  const id = await owner.creating(createContainer(container));
  await owner.adopt(id);
  for (const net of owner.networks ?? []) await owner.connect(net, id);
  if (files.length > 0) {
    await copyInto(id, await archiveOf(files.map((f) => ({ path: f.path, content: expandServiceToken(f.content, owner.key, owner.reachHosts), mode: fileMode(f) }))));
  }
  await startContainer(id);
  const info = await inspectContainer(id);
  return { name: spec.name, containerId: id, containerName: container.name, host: `${owner.key}-${spec.name}.internal`, ip: info.networks[owner.network]?.ip ?? "" };
}

/** The companions of service `key` in environment `envId`, by their labels, sorted by name. */
export async function listCompanions(envId: string, key: string): Promise<{ name: string; containerId: string; containerName: string }[]> {
  const found = await listByLabel("container", [`${LABEL_ENV}=${envId}`, `${LABEL_SERVICE}=${key}`, LABEL_COMPANION]);
  return found
    .map((c) => ({ name: c.labels[LABEL_COMPANION] ?? "", containerId: c.id, containerName: c.name }))
    .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}
