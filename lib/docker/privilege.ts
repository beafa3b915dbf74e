// Privileged containers: the argv for `--privileged` or its capability
// fallback, and probes that ask the engine whether it would start a
// container with some set of privileges (lib/runner/privilege.ts decides
// from them). A refusal by the engine's own configuration (runc refusing
// rlimits under Podman) is named with the setting to change.

import process from "node:process";
import type { RunResult } from "../exec.ts";
import { DockerArgumentError, validateImage, validateName } from "./args.ts";
import { DockerError, dockerResult, summarize } from "./cli.ts";

/** Linux capability names as Docker spells them (without `CAP_`). */
export const CAPABILITIES: readonly string[] = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
];

/**
 * What a container may do beyond Docker's defaults. `full` is
 * `--privileged`. `capabilities` stands in for it on hosts whose Docker
 * cannot apply every capability: all capabilities but `drop`, plus the rest
 * of what privileged mode gives (see `privilegeArgs`); `kmsg` adds the host's
 * `/dev/kmsg` (only when the daemon's host has one).
 */
export type Privilege = { mode: "full" } | { mode: "capabilities"; drop: string[]; kmsg: boolean };

function validateCapability(name: string): string {
  if (typeof name !== "string" || !CAPABILITIES.includes(name)) {
    throw new DockerArgumentError("capability", String(name), "expected a Linux capability name without CAP_, e.g. SYS_RESOURCE");
  }
  return name;
}

/**
 * docker argv for `privilege`. The capability fallback gives everything
 * `--privileged` does that the host allows: every capability but `drop`,
 * no seccomp filter, no AppArmor profile, no masked or read-only /proc and
 * /sys paths, every device usable (device cgroup rule; `/dev/kmsg` added,
 * which the kubelet reads), and under `cgroupns` "host" a writable
 * /sys/fs/cgroup (privileged mode mounts it read-write, others read-only).
 */
export function privilegeArgs(privilege: Privilege, cgroupns?: "host" | "private"): string[] {
  if (privilege?.mode === "full") return ["--privileged"];
  if (privilege?.mode !== "capabilities") {
    const mode = (privilege as { mode?: unknown } | undefined)?.mode;
    throw new DockerArgumentError("privilege mode", String(mode), "must be \"full\" or \"capabilities\"");
  }
  if (!Array.isArray(privilege.drop)) throw new DockerArgumentError("privilege.drop", String(privilege.drop), "must be an array of capability names");
  if (typeof privilege.kmsg !== "boolean") throw new DockerArgumentError("privilege.kmsg", String(privilege.kmsg), "must be true or false");
  const args = ["--cap-add", "ALL"];
  for (const c of privilege.drop) args.push("--cap-drop", validateCapability(c));
  args.push(
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
  );
  if (privilege.kmsg) args.push("--device", "/dev/kmsg");
  if (cgroupns === "host") args.push("--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw");
  return args;
}

/** Whether Docker started a container with some set of privileges. */
export interface StartProbe {
  started: boolean;
  /** Docker refused because the host cannot apply a capability ("unable to apply caps"). */
  capabilityRefused: boolean;
  /** Docker does not know a capability asked for (`invalid CapAdd: unknown capability`). */
  unknownCapability: boolean;
  /** Docker could not add a `--device` (e.g. no /dev/kmsg on the daemon's host). */
  deviceMissing: boolean;
  /** Docker's own words, e.g. "… unable to apply caps: operation not permitted: unknown". */
  detail: string;
}

/**
 * Would Docker start a container of `image` with `privilege` (under
 * cgroupns "host", so a fallback's cgroup mount is tried too)? Starts it
 * with an entrypoint that cannot exist: a refusal happens while the runtime
 * sets the container up, before the exec, which otherwise fails with "no
 * such file". Needs any local image, runs nothing, leaves nothing behind.
 */
export function probePrivilege(image: string, privilege: Privilege): Promise<StartProbe> {
  return probeStart(image, () => ["--cgroupns", "host", ...privilegeArgs(privilege, "host")]);
}

/** Would Docker start a container holding just `capabilities`? (see `probePrivilege`) */
export function probeCapabilities(image: string, capabilities: readonly string[]): Promise<StartProbe> {
  return probeStart(image, () => ["--cap-drop", "ALL", ...capabilities.flatMap((c) => ["--cap-add", validateCapability(c)])]);
}

/** `flags` is built here, so a validation error is a rejection like any other. */
async function probeStart(image: string, flags: () => string[]): Promise<StartProbe> {
  const args = [
    "run", "--rm", "--pull", "never", "--network", "none", "--log-driver", "none", "--label", "k3sbox.probe=privileged",
    "--label", `k3sbox.probe.pid=${process.pid}`, // whose probe it is (tests check their own left nothing)
    ...flags(), "--entrypoint", "/k3sbox-probe-nonexistent", validateImage(image),
  ];
  let r = await dockerResult(args, { timeoutMs: 30_000 });
  // Podman's Docker API answers a `docker run` whose start failed with "unable
  // to upgrade to tcp, received 409", hiding why: create + start says it.
  if (r.code !== 0 && /unable to upgrade to tcp, received 409/.test(r.stderr)) r = await probeByCreateStart(args);
  if (r.timedOut) throw new DockerError(args, r.code, r.stderr, true);
  if (RLIMIT_REFUSED.test(r.stderr)) throw new EngineConfigError(rlimitAdvice(r.stderr), r.stderr);
  const detail = summarize(r.stderr, r.code);
  const probe = (o: Partial<StartProbe>): StartProbe => ({
    started: false, capabilityRefused: false, unknownCapability: false, deviceMissing: false, detail, ...o,
  });
  if (/unable to apply caps/i.test(r.stderr)) return probe({ capabilityRefused: true });
  if (/unknown capability/i.test(r.stderr)) return probe({ unknownCapability: true });
  if (/error gathering device information/i.test(r.stderr)) return probe({ deviceMissing: true });
  if (/k3sbox-probe-nonexistent.*(executable file not found|no such file or directory)/i.test(r.stderr)) return probe({ started: true });
  if (/no such image|unable to find image/i.test(r.stderr)) throw new DockerError(args, r.code, r.stderr);
  // Anything else (a missing image, daemon trouble, an option this Docker
  // rejects) says nothing about capabilities: a refusal, in Docker's words.
  if (r.code !== 0 && /Error response from daemon|OCI runtime|runc/i.test(r.stderr)) return probe({});
  throw new DockerError(args, r.code, r.stderr, false, `docker run (privilege probe): unexpected result: ${detail}`);
}

/** `docker run --rm …` as `docker create …` + `docker start`, then removal: the start's own error is kept. */
async function probeByCreateStart(runArgs: string[]): Promise<RunResult> {
  const createArgs = ["create", ...runArgs.slice(1).filter((a) => a !== "--rm")];
  const created = await dockerResult(createArgs, { timeoutMs: 30_000 });
  if (created.code !== 0) return created;
  const id = created.stdout.trim().split("\n").pop()!.trim();
  try {
    return await dockerResult(["start", validateName(id, "container")], { timeoutMs: 30_000 });
  } finally {
    await dockerResult(["rm", "--force", id]).catch(() => {});
  }
}

/** The engine's own configuration keeps every container from starting; says which setting to change. */
export class EngineConfigError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
    this.name = "EngineConfigError";
  }
}

/** runc refusing the rlimits the engine asked for (Podman as root asks for nofile/nproc above some hosts' hard limits). */
export const RLIMIT_REFUSED = /error setting rlimits? (for ready process: error setting rlimit )?type (\d+)|error setting rlimit type (\d+)/i;
const RLIMIT_NAMES: Record<string, string> = { "6": "nproc", "7": "nofile", "8": "memlock", "0": "cpu", "1": "fsize", "3": "stack", "4": "core" };

/** What to set when runc refuses an rlimit (pure, for tests). */
export function rlimitAdvice(stderr: string): string {
  const m = /rlimit type (\d+)/i.exec(stderr);
  const name = (m && RLIMIT_NAMES[m[1]]) ?? `type ${m?.[1] ?? "?"}`;
  return `the container engine asks for an rlimit (${name}) above this host's hard limit, so no container can start ` +
    `(runc: "${/error setting rlimit[^:]*: [^:\n]*/i.exec(stderr)?.[0] ?? "error setting rlimits"}"). ` +
    `With Podman, set default_ulimits in /etc/containers/containers.conf (or the file CONTAINERS_CONF names), under [containers], ` +
    `at or below the host's hard limits (\`ulimit -Hn\`, \`ulimit -Hu\` as the daemon's user), e.g. default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"], then restart its service`;
}
