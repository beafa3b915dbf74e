// How a `privileged: true` service runs on this Docker host: `--privileged`
// when the daemon allows it, else — when it refuses only because it cannot
// apply some capabilities (sandboxes without CAP_SYS_RESOURCE, such as
// Firecracker VMs) — every capability it can grant plus the rest of what
// privileged mode gives (see docker.privilegeArgs).

import { CAPABILITIES, type Privilege, probeCapabilities, probePrivilege, type StartProbe } from "../docker.ts";

/** How privileged services run on one daemon. */
export type PrivilegeResolution =
  | { ok: true; privilege: Privilege; /** Docker's refusal of --privileged, when the fallback is used. */ refusal?: string }
  | { ok: false; refusal: string; fallback?: { drop: string[]; detail: string } };

/** Test hooks for the capability search; the defaults are what a real run uses. */
export interface PrivilegeSearch {
  /** Capabilities dropped by the first fallback attempt (default: SYS_RESOURCE, the common sandbox case). */
  firstGuess?: string[];
  /** Capabilities searched (in halving sets) when the first guess is refused (default: all). */
  candidates?: readonly string[];
}

const resolutions = new Map<string, Promise<PrivilegeResolution>>();

/**
 * Resolves, once per process and daemon (`daemonId`, see dockerInfo().id),
 * how privileged containers run there. `image` is any local image (the
 * probes run nothing). Probe failures that say nothing about privileges
 * (e.g. the daemon went away) throw and are retried by the next call.
 */
export function resolvePrivilege(image: string, daemonId: string, search?: PrivilegeSearch): Promise<PrivilegeResolution> {
  if (search) return searchPrivilege(image, search); // test hooks: never cached
  let pending = resolutions.get(daemonId);
  if (!pending) {
    pending = searchPrivilege(image, {});
    resolutions.set(daemonId, pending);
    pending.catch(() => resolutions.delete(daemonId));
  }
  return pending;
}

async function searchPrivilege(image: string, search: PrivilegeSearch): Promise<PrivilegeResolution> {
  const full = await probePrivilege(image, { mode: "full" });
  if (full.started) return { ok: true, privilege: { mode: "full" } };
  if (!full.capabilityRefused) return { ok: false, refusal: full.detail };

  let drop = search.firstGuess ?? ["SYS_RESOURCE"];
  let attempt = await probeFallback(image, drop);
  if (!attempt.probe.started && attempt.probe.capabilityRefused) {
    const missing = await missingCapabilities(image, search.candidates ?? CAPABILITIES);
    // Nothing refused alone: not a missing capability; keep the first answer.
    if (missing.length > 0 && !sameSet(missing, drop)) {
      drop = missing;
      attempt = await probeFallback(image, drop);
    }
  }
  if (attempt.probe.started) return { ok: true, privilege: attempt.privilege, refusal: full.detail };
  return { ok: false, refusal: full.detail, fallback: { drop, detail: attempt.probe.detail } };
}

/** Probes the fallback with /dev/kmsg, and without it when the daemon's host has none. */
async function probeFallback(image: string, drop: string[]): Promise<{ privilege: Privilege; probe: StartProbe }> {
  let privilege: Privilege = { mode: "capabilities", drop, kmsg: true };
  let probe = await probePrivilege(image, privilege);
  if (probe.deviceMissing && /\/dev\/kmsg/.test(probe.detail)) {
    privilege = { ...privilege, kmsg: false };
    probe = await probePrivilege(image, privilege);
  }
  return { privilege, probe };
}

/**
 * The capabilities Docker cannot apply on this host. A set is probed at
 * once and split in halves only when refused, so one missing capability out
 * of 41 takes about 13 probes (halves side by side), not 41. A capability this
 * Docker does not know is not part of its ALL either: it is not "refused",
 * but it also makes its set fail, so such a set is split too.
 */
async function missingCapabilities(image: string, candidates: readonly string[]): Promise<string[]> {
  const refusedAmong = async (caps: readonly string[]): Promise<string[]> => {
    if (caps.length === 0) return [];
    const probe = await probeCapabilities(image, caps);
    if (!probe.capabilityRefused && !probe.unknownCapability) return [];
    if (caps.length === 1) return probe.capabilityRefused ? [...caps] : [];
    const half = Math.ceil(caps.length / 2);
    const [a, b] = await Promise.all([refusedAmong(caps.slice(0, half)), refusedAmong(caps.slice(half))]);
    return [...a, ...b];
  };
  return await refusedAmong(candidates);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** One progress line: which mode a service runs in and why. */
export function fallbackNotice(service: string, privilege: Privilege & { mode: "capabilities" }, cgroupns?: "host" | "private"): string {
  const missing = privilege.drop.map((c) => `CAP_${c}`).join(", ");
  const cgroup = cgroupns === "host"
    ? "a writable cgroup mount"
    : `a read-only /sys/fs/cgroup (writable only under cgroupns "host")`;
  return `service "${service}": this Docker host refuses --privileged (cannot grant ${missing || "some capabilities"}); ` +
    `running it with all other capabilities, unconfined seccomp/AppArmor/system paths, all devices` +
    `${privilege.kmsg ? " (with /dev/kmsg)" : ""} and ${cgroup}`;
}
