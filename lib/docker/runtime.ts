// What the runner needs from a container engine, as one interface, and the
// Docker CLI's implementation of it.
//
// `ContainerRuntime` is the engine as lib/runner/ (and the k3s nodes and
// image mirror it starts) uses it: tell the engine's identity and whether it
// starts privileged containers, have images, make networks, run containers
// and watch them, and find and remove what carries a set of labels. Every
// argument is a plain value; every failure is `DockerError` (the engine
// refused), `DockerUnavailableError` (no engine to ask) or
// `DockerArgumentError` (a value no engine call may carry).
//
// `dockerRuntime` implements it with the `docker` CLI (which also drives
// Podman's Docker API; its quirks are handled inside the calls). lib/docker.ts
// binds the names the library imports to it, so an engine with behaviour of
// its own (Podman's CLI, an API client) is one more object of this type bound
// there. What stays outside the interface is Docker-CLI plumbing with no
// engine-neutral shape: `docker save`/`exec -i` pipelines, volumes, topology
// and the raw `docker(args)` calls, each in its module under lib/docker/.

import type { Privilege, StartProbe } from "./privilege.ts";
import { probeCapabilities, probePrivilege } from "./privilege.ts";
import type { DockerInfo } from "./engine.ts";
import { dockerInfo } from "./engine.ts";
import { imageExists, listImages, pullImage } from "./images.ts";
import { connectNetwork, createNetwork, networkGateway, removeNetworks } from "./networks.ts";
import {
  type ContainerInfo,
  type ContainerSpec,
  copyInto,
  createContainer,
  execIn,
  type ExecResult,
  inspectContainer,
  isRunning,
  removeContainers,
  runThrowaway,
  startContainer,
  type ThrowawaySpec,
} from "./containers.ts";
import { logsTail } from "./logs.ts";
import { waitExit, type WaitHandle } from "./waits.ts";
import { type LabelledObject, listByLabel, removeLabelled, runningContainerIds } from "./inventory.ts";

export interface ContainerRuntime {
  // The engine
  /** Its identity and kind (rootless, cgroup version, registry mirrors). */
  info(opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<DockerInfo>;
  /** Would it start a container of `image` with `privilege`? Runs nothing, leaves nothing. */
  probePrivilege(image: string, privilege: Privilege): Promise<StartProbe>;
  /** Would it start a container holding just these capabilities? */
  probeCapabilities(image: string, capabilities: readonly string[]): Promise<StartProbe>;

  // Images (never pulled implicitly)
  imageExists(ref: string): Promise<boolean>;
  pullImage(ref: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** `repository:tag` of the local images (of one repository when given). */
  listImages(repository?: string): Promise<string[]>;

  // Networks
  /** A bridge network with labels; returns its id. */
  createNetwork(name: string, labels?: Record<string, string>): Promise<string>;
  connectNetwork(network: string, container: string, aliases?: readonly string[]): Promise<void>;
  /** The engine host's address on that network, if it has one. */
  networkGateway(name: string): Promise<string | undefined>;
  /** Removes networks; ones already gone are no error. */
  removeNetworks(names: readonly string[]): Promise<void>;

  // Containers
  /** Creates (does not start) a container from a local image; returns its id. */
  createContainer(spec: ContainerSpec): Promise<string>;
  /** Unpacks a tar archive into a created or running container. */
  copyInto(container: string, tarBytes: Uint8Array, destDir?: string): Promise<void>;
  startContainer(id: string): Promise<void>;
  inspectContainer(id: string): Promise<ContainerInfo>;
  /** False once it stopped or is gone; throws when the engine cannot tell. */
  isRunning(id: string, opts?: { timeoutMs?: number }): Promise<boolean>;
  /** Runs a command in a running container; its non-zero exit is returned, not thrown. */
  execIn(container: string, argv: readonly string[], opts?: { timeoutMs?: number; stdin?: Uint8Array | string; env?: Record<string, string> }): Promise<ExecResult>;
  /** The last lines of its output, stdout and stderr in time order. */
  logsTail(container: string, lines?: number): Promise<string>;
  /** Watches for its exit (call after start); cancel a handle no longer wanted. */
  waitExit(container: string): WaitHandle;
  /** One command in a container removed when it ends, without network; its stdout. */
  runThrowaway(spec: ThrowawaySpec, opts?: { timeoutMs?: number }): Promise<string>;
  /** Force-removes containers and their anonymous volumes; ones already gone are no error. */
  removeContainers(ids: readonly string[]): Promise<void>;

  // Inventory (what a cleanup path finds and removes)
  /** Containers (any state) or networks carrying every label filter (`key` or `key=value`; at least one). */
  listByLabel(kind: "container" | "network", labelFilters: readonly string[]): Promise<LabelledObject[]>;
  /** Which of these container ids run. */
  runningContainerIds(ids: readonly string[]): Promise<Set<string>>;
  /** Removes the labelled containers, then networks (with `only`, those it selects); returns their names. */
  removeLabelled(filter: string[], opts?: { only?: (o: LabelledObject) => boolean }): Promise<{ containers: string[]; networks: string[] }>;
}

/** The engine behind the `docker` CLI (DOCKER_HOST, the active context, or Podman's Docker API). */
export const dockerRuntime: ContainerRuntime = {
  info: dockerInfo,
  probePrivilege,
  probeCapabilities,
  imageExists,
  pullImage,
  listImages,
  createNetwork,
  connectNetwork,
  networkGateway,
  removeNetworks,
  createContainer,
  copyInto,
  startContainer,
  inspectContainer,
  isRunning,
  execIn,
  logsTail,
  waitExit,
  runThrowaway,
  removeContainers,
  listByLabel,
  runningContainerIds,
  removeLabelled,
};
