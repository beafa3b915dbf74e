// The engine itself: who it is (`docker info`), which versions speak
// (`docker version`), and its platform.

import { daemonUnreachable, docker, DockerError, type DockerOptions, dockerResult } from "./cli.ts";

export interface DockerInfo {
  /** The daemon's ID (stable per engine): a key for per-daemon caches. */
  id: string;
  serverVersion: string;
  os: string;
  arch: string;
  kernelVersion: string;
  cgroupVersion: string;
  cgroupDriver: string;
  storageDriver: string;
  rootless: boolean;
  /** The daemon's `registry-mirrors` (they mirror Docker Hub). */
  registryMirrors: string[];
}

/** The engine's identity; throws `DockerUnavailableError` when the daemon cannot be reached. */
export async function dockerInfo(opts: Pick<DockerOptions, "env" | "cli" | "timeoutMs"> = {}): Promise<DockerInfo> {
  const r = await dockerResult(["info", "--format", "{{json .}}"], { timeoutMs: 20_000, ...opts });
  // deno-lint-ignore no-explicit-any
  let info: any;
  try {
    info = JSON.parse(r.stdout);
  } catch { /* handled below */ }
  const serverErrors: string[] = info?.ServerErrors ?? [];
  if (!info?.ServerVersion || serverErrors.length > 0) {
    throw daemonUnreachable([...serverErrors, r.stderr].join("\n") || `docker info exited ${r.code}`);
  }
  if (r.code !== 0) throw new DockerError(["info"], r.code, r.stderr, r.timedOut);
  const security: string[] = info.SecurityOptions ?? [];
  return {
    id: String(info.ID ?? ""),
    serverVersion: info.ServerVersion,
    os: info.OperatingSystem ?? "",
    arch: info.Architecture ?? "",
    kernelVersion: info.KernelVersion ?? "",
    cgroupVersion: String(info.CgroupVersion ?? ""),
    cgroupDriver: info.CgroupDriver ?? "",
    storageDriver: info.Driver ?? "",
    rootless: security.some((s) => s.includes("rootless")),
    registryMirrors: info.RegistryConfig?.Mirrors ?? [],
  };
}

export interface DockerVersion {
  /** The CLI's version, when it said. */
  client?: string;
  /** Names of the server's components (`Engine`, `containerd`, or `Podman Engine` behind Podman's Docker API). */
  serverComponents: string[];
}

/**
 * What `docker version` says, whatever its exit code (the client part comes
 * even when the daemon does not answer; `dockerInfo` tells that apart).
 * Throws only `DockerUnavailableError` (CLI missing, daemon unreachable).
 */
export async function dockerVersion(): Promise<DockerVersion> {
  const r = await dockerResult(["version", "--format", "{{json .}}"], { timeoutMs: 20_000 });
  // deno-lint-ignore no-explicit-any
  let version: any = {};
  try {
    version = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
  } catch { /* an empty answer */ }
  // deno-lint-ignore no-explicit-any
  const components: any[] = version?.Server?.Components ?? [];
  return { client: version?.Client?.Version, serverComponents: components.map((c) => String(c?.Name ?? "")) };
}

/** "linux/amd64": the engine's platform (which a node in it shares). */
export async function serverPlatform(): Promise<string> {
  return (await docker(["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])).trim();
}
