// Identity of what the runner creates. Every container and network carries
// these labels, so `prune` and crash cleanup find exactly k3sbox's objects
// and can tell a live session's from a dead one's.

import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { stateRootLabel } from "./state-dir.ts";
import { randomHex } from "../bytes.ts";

export const LABEL_SESSION = "k3sbox.session";
export const LABEL_ENV = "k3sbox.env";
export const LABEL_SERVICE = "k3sbox.service";
export const LABEL_HOST = "k3sbox.host";
export const LABEL_PID = "k3sbox.pid";
/**
 * The daemon's container the owning process runs in (docker/topology.ts):
 * its pid (LABEL_PID) is only meaningful inside that container's PID
 * namespace, so elsewhere liveness is the container's.
 */
export const LABEL_OWNER_CONTAINER = "k3sbox.owner-container";
/**
 * The owner's PID namespace on its running kernel (PID_NAMESPACE, "" without
 * /proc): its pid (LABEL_PID) proves it dead only to a process in the same
 * namespace of the same boot. A process in a container sharing the host's
 * name (host networking), or on another machine of the same name sharing
 * the daemon, would otherwise take live processes' pids for dead ones
 * (sweep.ts). After a reboot, prune judges what is left.
 */
export const LABEL_PIDNS = "k3sbox.pidns";
/** Set on environments started with `detached: true` (`k3sbox up --detach`): prune leaves them, `down` removes them. */
export const LABEL_DETACHED = "k3sbox.detached";
/** Where the environment's private directory is (state-dir.ts; URI-encoded): `down` and the watchdog find it there. */
export const LABEL_STATE_DIR = "k3sbox.state-dir";

/** This process's session: one per process, shared by its environments. */
export const SESSION_ID = `${process.pid}-${randomHex(4)}`;
export const HOST_NAME = hostname();
/** `<kernel boot id>/pid:[<inode>]`: the init namespace's inode is the same on every Linux machine, the boot id is not. */
export const PID_NAMESPACE = (() => {
  try {
    return `${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}/${readlinkSync("/proc/self/ns/pid")}`;
  } catch {
    return "";
  }
})();

export function newEnvironmentId(): string {
  return randomHex(5);
}

export function environmentLabels(envId: string, detached = false): Record<string, string> {
  return {
    ...(detached ? { [LABEL_DETACHED]: "true" } : {}),
    [LABEL_SESSION]: SESSION_ID,
    [LABEL_ENV]: envId,
    [LABEL_HOST]: HOST_NAME,
    [LABEL_PID]: String(process.pid),
    [LABEL_PIDNS]: PID_NAMESPACE,
    [LABEL_STATE_DIR]: stateRootLabel(),
  };
}

export const networkName = (envId: string) => `k3sbox-${envId}`;
export const containerName = (envId: string, key: string) => `k3sbox-${envId}-${key}`;
