// The container engine boundary, one import for the rest of the library.
// Nothing outside lib/docker/ builds a docker argv or starts the docker CLI
// (tests/unit/boundaries.test.ts); the modules there, by resource:
//
//   cli.ts         running `docker`, its errors, deadlines
//   args.ts        checks on every value in an argv (DockerArgumentError)
//   engine.ts      `docker info`/`version`, the engine's platform
//   images.ts      presence, pulls, listings, `docker save`
//   networks.ts    bridge networks
//   containers.ts  create, copy in, start, inspect, exec, remove; throwaway runs
//   logs.ts, waits.ts, lifecycle.ts   output, exit waits, stop/pause/kill
//   inventory.ts   listing and removal by label
//   privilege.ts   --privileged, its capability fallback, and probes
//   volumes.ts, archive.ts, topology.ts, host-address.ts, ssh-forward.ts
//   runtime.ts     ContainerRuntime: what the runner needs, and dockerRuntime
//
// The runner's calls are bound to `dockerRuntime` here (see runtime.ts).

import { dockerRuntime } from "./docker/runtime.ts";

export const {
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
} = dockerRuntime;

export { type ContainerRuntime, dockerRuntime } from "./docker/runtime.ts";
export { docker, DockerError, type DockerOptions, dockerResult, DockerUnavailableError } from "./docker/cli.ts";
export { DockerArgumentError, mountArgs, validateName, type VolumeMount } from "./docker/args.ts";
export { type DockerInfo, dockerVersion, type DockerVersion, serverPlatform } from "./docker/engine.ts";
export { imageId, ImagePullError, imageSaveCommand, saveSupportsPlatform } from "./docker/images.ts";
export { ensureNetwork } from "./docker/networks.ts";
export {
  type ContainerInfo,
  type ContainerSpec,
  type ContainerState,
  execCommand,
  type ExecResult,
  throwawayArgs,
  throwawayCommand,
  type ThrowawaySpec,
} from "./docker/containers.ts";
export { WaitCancelledError, type WaitHandle } from "./docker/waits.ts";
export { containerLifecycle, type LifecycleAction } from "./docker/lifecycle.ts";
export { type LabelledObject } from "./docker/inventory.ts";
export { CAPABILITIES, EngineConfigError, type Privilege, privilegeArgs, RLIMIT_REFUSED, rlimitAdvice, type StartProbe } from "./docker/privilege.ts";
