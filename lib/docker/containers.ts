// Containers: create (never pulling), copy files in, start, inspect, exec,
// remove; and throwaway containers (`docker run --rm`) for one command
// against the daemon's host or its volumes. Logs, exit waits and run-state
// actions live beside this (logs.ts, waits.ts, lifecycle.ts).

import type { Argv } from "../exec.ts";
import { DockerArgumentError, keyValues, mountArgs, validateImage, validateName, validateText, type VolumeMount } from "./args.ts";
import { docker, dockerCommand, DockerError, dockerResult, type DockerOptions, unexplained } from "./cli.ts";
import { type Privilege, privilegeArgs } from "./privilege.ts";
import { retryTransient, SHIM_START_REFUSAL } from "./transient.ts";

export interface ContainerSpec {
  name: string;
  image: string;
  network?: string;
  /** DNS names on `network` (requires `network`). */
  aliases?: string[];
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** tmpfs mounts: `/run` or `/run:rw,size=64m`. */
  tmpfs?: string[];
  /** Beyond Docker's defaults: `--privileged`, or its capability fallback (see `privilegeArgs`). */
  privilege?: Privilege;
  cgroupns?: "host" | "private";
  /** Container TCP ports published on 127.0.0.1 at a host port Docker picks. */
  publish?: number[];
  /** Named volumes to mount. */
  mounts?: VolumeMount[];
  /** Also publish them on this address of the daemon's host (see docker/topology.ts); 127.0.0.1 stays. */
  publishHost?: string;
  /** Extra /etc/hosts lines as `name:ip` (`--add-host`). */
  addHosts?: string[];
  entrypoint?: string;
  command?: string[];
}

/**
 * Creates (does not start) a container and returns its id. Never pulls:
 * a missing image fails fast (`--pull never`); use `pullImage` first.
 */
export async function createContainer(spec: ContainerSpec): Promise<string> {
  const args = ["create", "--pull", "never", "--name", validateName(spec.name, "container name")];
  if (spec.network) args.push("--network", validateName(spec.network, "network name"));
  if (spec.aliases?.length) {
    if (!spec.network) throw new DockerArgumentError("network alias", spec.aliases[0], "aliases need `network` to be set");
    for (const a of spec.aliases) args.push("--network-alias", validateName(a, "network alias"));
  }
  args.push(...keyValues("--label", "label", spec.labels), ...keyValues("--env", "environment variable", spec.env));
  for (const t of spec.tmpfs ?? []) {
    if (!t.startsWith("/")) throw new DockerArgumentError("tmpfs mount", t, "must be an absolute path, optionally followed by :options");
    args.push("--tmpfs", validateText("tmpfs mount", t));
  }
  if (spec.cgroupns) {
    if (spec.cgroupns !== "host" && spec.cgroupns !== "private") {
      throw new DockerArgumentError("cgroupns mode", spec.cgroupns, "must be \"host\" or \"private\"");
    }
    args.push("--cgroupns", spec.cgroupns);
  }
  if (spec.privilege) args.push(...privilegeArgs(spec.privilege, spec.cgroupns));
  for (const p of spec.publish ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new DockerArgumentError("port", String(p), "must be an integer 1-65535");
    args.push("--publish", `127.0.0.1::${p}/tcp`);
    if (spec.publishHost && spec.publishHost !== "127.0.0.1") {
      const h = validateText("publish address", spec.publishHost);
      if (!/^[0-9a-fA-F.:]+$/.test(h)) throw new DockerArgumentError("publish address", h, "must be an IP address");
      args.push("--publish", `${h.includes(":") ? `[${h}]` : h}::${p}/tcp`);
    }
  }
  for (const m of spec.mounts ?? []) args.push(...mountArgs(m));
  for (const h of spec.addHosts ?? []) {
    if (!/^[A-Za-z0-9.-]+:[0-9a-fA-F.:]+$/.test(h)) throw new DockerArgumentError("extra host", h, "must be name:ip-address");
    args.push("--add-host", h);
  }
  if (spec.entrypoint !== undefined) args.push("--entrypoint", validateText("entrypoint", spec.entrypoint));
  args.push(validateImage(spec.image), ...(spec.command ?? []).map((c) => validateText("command argument", c)));
  const out = await docker(args);
  // The id is the last line; anything before it is CLI chatter.
  return out.trim().split("\n").pop()!.trim();
}

/**
 * Unpacks a tar archive (see lib/docker/archive.ts) into `destDir` of a created or
 * running container. `destDir` must exist; directories below it that the
 * archive's paths need are created (0755, root). Modes are kept.
 */
export async function copyInto(container: string, tarBytes: Uint8Array, destDir = "/"): Promise<void> {
  if (!destDir.startsWith("/")) throw new DockerArgumentError("destination directory", destDir, "must be an absolute path");
  await docker(["cp", "-", `${validateName(container, "container")}:${validateText("destination directory", destDir)}`], {
    stdin: tarBytes,
  });
}

export async function startContainer(id: string): Promise<void> {
  const name = validateName(id, "container");
  await retryTransient(SHIM_START_REFUSAL, () => docker(["start", name]).then(() => undefined));
}

export interface ContainerState {
  status: string;
  running: boolean;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ContainerInfo {
  id: string;
  name: string;
  /** The image as the container was created from it (a reference, as given). */
  image: string;
  /** The id (`sha256:…`) of that image. */
  imageId: string;
  state: ContainerState;
  /** Container TCP port → host port on 127.0.0.1 (only ports published and bound). */
  ports: Record<number, number>;
  /** Host address → (container TCP port → host port) of every binding. */
  bindings: Record<string, Record<number, number>>;
  /** Network name → address and DNS aliases on it. */
  networks: Record<string, { ip: string; aliases: string[] }>;
  labels: Record<string, string>;
}

/** Docker's "never" timestamp is year 1. */
function dockerDate(s: string | undefined): Date | null {
  if (!s || s.startsWith("0001-")) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

export async function inspectContainer(id: string): Promise<ContainerInfo> {
  const out = await docker(["inspect", "--type", "container", validateName(id, "container")]);
  // deno-lint-ignore no-explicit-any
  const c: any = JSON.parse(out)[0];
  const ports: Record<number, number> = {};
  const byHost: Record<string, Record<number, number>> = {};
  for (const [key, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {})) {
    const [port, proto] = key.split("/");
    if (proto !== "tcp" || !Array.isArray(bindings)) continue;
    // deno-lint-ignore no-explicit-any
    for (const x of bindings as any[]) if (x?.HostPort) (byHost[x.HostIp ?? ""] ??= {})[Number(port)] = Number(x.HostPort);
    // deno-lint-ignore no-explicit-any
    const b = (bindings as any[]).find((x) => x.HostIp === "127.0.0.1") ?? bindings[0];
    if (b?.HostPort) ports[Number(port)] = Number(b.HostPort);
  }
  const networks: ContainerInfo["networks"] = {};
  // deno-lint-ignore no-explicit-any
  for (const [name, n] of Object.entries<any>(c.NetworkSettings?.Networks ?? {})) {
    networks[name] = { ip: n.IPAddress ?? "", aliases: n.Aliases ?? [] };
  }
  const s = c.State ?? {};
  return {
    id: c.Id,
    name: String(c.Name ?? "").replace(/^\//, ""),
    image: c.Config?.Image ?? "",
    imageId: c.Image ?? "",
    state: {
      status: s.Status ?? "",
      running: !!s.Running,
      exitCode: s.ExitCode ?? 0,
      error: s.Error ?? "",
      oomKilled: !!s.OOMKilled,
      startedAt: dockerDate(s.StartedAt),
      finishedAt: dockerDate(s.FinishedAt),
    },
    ports,
    bindings: byHost,
    networks,
    labels: c.Config?.Labels ?? {},
  };
}

/**
 * Whether a container runs: false once it stopped or is gone. Throws
 * (`DockerError`, `DockerUnavailableError`) when Docker cannot tell.
 */
export async function isRunning(id: string, opts: Pick<DockerOptions, "timeoutMs"> = {}): Promise<boolean> {
  const args = ["inspect", "--type", "container", "--format", "{{.State.Running}}", validateName(id, "container")];
  const r = await dockerResult(args, opts);
  if (r.code === 0 && !r.timedOut) return r.stdout.trim() === "true";
  if (!r.timedOut && /no such (container|object)/i.test(r.stderr)) return false;
  throw new DockerError(args, r.code, r.stderr, r.timedOut);
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const EXEC_DOCKER_FAILURE =
  /^Error response from daemon: (No such container|Container \S+ is (not running|paused|restarting))/m;

function execArgs(container: string, argv: readonly string[], flags: string[]): string[] {
  if (argv.length === 0) throw new DockerArgumentError("exec command", "", "needs at least one argument");
  return ["exec", ...flags, validateName(container, "container"), ...argv.map((a) => validateText("command argument", a))];
}

/**
 * Runs `argv` inside a running container. A non-zero exit of the command is
 * returned, not thrown (126/127: not executable/not found). Throws
 * `DockerError` when Docker itself fails (no such container, not running)
 * or on timeout — note a timeout kills the CLI, not the process inside.
 */
export async function execIn(
  container: string,
  argv: readonly string[],
  opts: { timeoutMs?: number; stdin?: Uint8Array | string; env?: Record<string, string> } = {},
): Promise<ExecResult> {
  const flags = [...(opts.stdin !== undefined ? ["--interactive"] : []), ...keyValues("--env", "environment variable", opts.env)];
  const args = execArgs(container, argv, flags);
  const r = await dockerResult(args, { timeoutMs: opts.timeoutMs, stdin: opts.stdin });
  if (r.timedOut || (r.code !== 0 && EXEC_DOCKER_FAILURE.test(r.stderr))) {
    throw new DockerError(args, r.code, r.stderr, r.timedOut);
  }
  // Docker 20.10 writes a failed exec ("executable file not found") to
  // stdout, CRLF-terminated; move it where callers look for errors.
  if ((r.code === 126 || r.code === 127) && r.stderr === "" && r.stdout.startsWith("OCI runtime exec failed")) {
    return { code: r.code, stdout: "", stderr: r.stdout.replace(/\r\n/g, "\n") };
  }
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** `docker exec --interactive container argv…` as the consuming end of a pipeline: its stdin is the producer's output. */
export function execCommand(container: string, argv: readonly string[]): Argv {
  return dockerCommand(execArgs(container, argv, ["--interactive"]));
}

/** Force-removes containers and their anonymous volumes; missing ones are ignored. */
export async function removeContainers(ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const args = ["rm", "--force", "--volumes", ...ids.map((i) => validateName(i, "container"))];
  const r = await dockerResult(args);
  if (r.code === 0) return;
  if (unexplained(r.stderr, /no such container|removal of container \S+ is already in progress/i)) {
    throw new DockerError(args, r.code, r.stderr, r.timedOut);
  }
}

// ---------------------------------------------------------------------------
// Throwaway containers

/** A container that runs one command and is removed when it ends (`docker run --rm`), with no network. */
export interface ThrowawaySpec {
  image: string;
  entrypoint: string;
  command?: readonly string[];
  /** Runs on in the background (`--detach`): `runThrowaway` returns once it started. */
  detach?: boolean;
  name?: string;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  mounts?: VolumeMount[];
  /** Also mounts every volume and bind mount of this container (`--volumes-from`). */
  volumesFrom?: string;
  /** Its stdin is the caller's (`--interactive`): for the consuming end of a pipeline. */
  interactive?: boolean;
  /** Keeps no log (`--log-driver none`). */
  noLogs?: boolean;
}

/** The `docker run` argv of a throwaway container (pure, validated). */
export function throwawayArgs(spec: ThrowawaySpec): string[] {
  const args = ["run", "--rm", ...(spec.detach ? ["--detach"] : []), ...(spec.interactive ? ["--interactive"] : [])];
  if (spec.name !== undefined) args.push("--name", validateName(spec.name, "container name"));
  args.push(...keyValues("--label", "label", spec.labels));
  if (spec.volumesFrom !== undefined) args.push("--volumes-from", validateName(spec.volumesFrom, "container"));
  args.push("--network", "none", ...(spec.noLogs ? ["--log-driver", "none"] : []));
  args.push(...keyValues("--env", "environment variable", spec.env));
  for (const m of spec.mounts ?? []) args.push(...mountArgs(m));
  args.push("--entrypoint", validateText("entrypoint", spec.entrypoint), validateImage(spec.image));
  return [...args, ...(spec.command ?? []).map((c) => validateText("command argument", c))];
}

/** Runs a throwaway container to its end (or, detached, until it started); returns its stdout, throws `DockerError` on a non-zero exit. */
export async function runThrowaway(spec: ThrowawaySpec, opts: Pick<DockerOptions, "timeoutMs"> = {}): Promise<string> {
  return await docker(throwawayArgs(spec), opts);
}

/** A throwaway container as one end of a pipeline (lib/exec.ts `runPipeline`). */
export function throwawayCommand(spec: ThrowawaySpec): Argv {
  return dockerCommand(throwawayArgs(spec));
}
