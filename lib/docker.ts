// The Docker CLI, driven with argv arrays through proc.run(): no shell ever
// sees a value. Every helper is one or two `docker` invocations and turns the
// CLI's text into typed values or typed errors.
//
// Names and references are validated before use, so a value can never be
// taken for a flag (`-…`) or smuggle a second argument.

import process from "node:process";
import { CommandNotFoundError, run, type RunResult, spawnProcess } from "./exec.ts";

// ---------------------------------------------------------------------------
// Errors

/**
 * A `docker` command exited non-zero (or outlived its deadline).
 *
 * @example
 * ```ts
 * import { DockerError, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const [server] = await env.svc.k8s.nodes();
 * try {
 *   await server.unpause(); // not paused: Docker refuses
 * } catch (err) {
 *   if (!(err instanceof DockerError)) throw err;
 *   console.log(err.code, err.stderr);
 * }
 * ```
 */
export class DockerError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number,
    readonly stderr: string,
    readonly timedOut = false,
    message?: string,
  ) {
    super(message ?? `docker ${subcommand(args)}: ${timedOut ? "timed out" : summarize(stderr, code)}`);
    this.name = "DockerError";
  }

  /** True when Docker said the container/network/image/object does not exist. */
  get notFound(): boolean {
    return NOT_FOUND.test(this.stderr);
  }
}

/** `docker pull` failed; `stderr` holds the pull's own explanation. */
export class ImagePullError extends DockerError {
  constructor(readonly ref: string, args: readonly string[], code: number, stderr: string, timedOut: boolean) {
    super(
      args,
      code,
      stderr,
      timedOut,
      `docker pull ${ref}: ${timedOut ? "timed out" : summarize(stderr, code)}`,
    );
    this.name = "ImagePullError";
  }
}

/**
 * Docker cannot be used at all: the CLI is missing or the daemon unreachable.
 *
 * @example
 * ```ts
 * import { DockerUnavailableError, k3s, startEnvironment } from "k3sbox";
 *
 * try {
 *   await using env = await startEnvironment({ services: { k8s: k3s() } });
 * } catch (err) {
 *   if (!(err instanceof DockerUnavailableError)) throw err;
 *   console.error(err.reason === "cli-missing" ? "install the docker CLI" : "start the Docker daemon (or set DOCKER_HOST)");
 * }
 * ```
 */
export class DockerUnavailableError extends Error {
  constructor(readonly reason: "cli-missing" | "daemon-unreachable", message: string, readonly stderr = "") {
    super(message);
    this.name = "DockerUnavailableError";
  }
}

/** A container or network name (or other argument) Docker would reject or misread. */
export class DockerNameError extends Error {
  constructor(readonly kind: string, readonly value: string, rule: string) {
    super(`invalid ${kind} ${JSON.stringify(value)}: ${rule}`);
    this.name = "DockerNameError";
  }
}

// Podman's Docker API says "unable to find network with name or ID …: network not found".
const NOT_FOUND = /no such (container|object|network|image)|network \S+ not found|: network not found/i;
// The CLI's own words when it cannot reach the engine, at the start of a line
// (after e.g. a deprecation notice). For `docker exec`, whose stderr is the
// command's, only the very start of stderr counts.
const DAEMON_UNREACHABLE =
  /^(docker: )?(Cannot connect to the Docker daemon|error during connect|permission denied while trying to connect to the Docker daemon)/im;
const DAEMON_UNREACHABLE_AT_START = new RegExp(DAEMON_UNREACHABLE.source, "i");
const PING_LOST = /^docker: unknown server OS: *$/m;

/** The subcommand for messages: `run`, `network create`, … */
function subcommand(args: readonly string[]): string {
  const grouped = new Set(["network", "container", "image", "volume", "system", "builder", "buildx", "context"]);
  const first = args[0] ?? "";
  return grouped.has(first) && args[1] && !args[1].startsWith("-") ? `${first} ${args[1]}` : first;
}

/** CLI chatter that is never the reason a command failed. */
const NOISE = [
  /^(Run|See) 'docker .*--help'/,
  /^exit status \d+$/,
  /^Sending build context to Docker daemon/,
  /^Step \d+\/\d+ : /,
  /^--->/,
];

/** The first meaningful stderr lines, without `--help` hints, deprecation notices or build progress. */
function summarize(stderr: string, code: number): string {
  const lines: string[] = [];
  let inNotice = false;
  for (const raw of stderr.split("\n")) {
    // "DEPRECATED: …" / "WARNING: …" notices continue on indented lines.
    if (/^(DEPRECATED|WARNING):/.test(raw)) inNotice = true;
    else if (inNotice && !/^\s/.test(raw)) inNotice = false;
    const line = raw.trim().replace(/^docker: /, "");
    if (!inNotice && line && !NOISE.some((n) => n.test(line))) lines.push(line);
  }
  if (lines.length === 0) lines.push(...stderr.split("\n").map((l) => l.trim()).filter(Boolean)); // only notices: show them
  if (lines.length === 0) return `exit code ${code} (no error output)`;
  const text = lines.slice(0, 3).join("; ");
  return text.length > 600 ? text.slice(0, 600) + "…" : text;
}

// ---------------------------------------------------------------------------
// Validation

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const NAME_RULE = "Docker names must match [a-zA-Z0-9][a-zA-Z0-9_.-]* " +
  "(letters, digits, '_', '.', '-', starting with a letter or digit)";
const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-\/:@+]*$/;

/** Throws `DockerNameError` unless `name` is a valid Docker container/network name (or id). */
export function validateName(name: string, kind = "name"): string {
  if (typeof name !== "string" || !NAME.test(name)) throw new DockerNameError(kind, String(name), NAME_RULE);
  return name;
}

function validateImage(ref: string): string {
  if (typeof ref !== "string" || !IMAGE.test(ref)) {
    throw new DockerNameError("image reference", String(ref), "expected e.g. rancher/k3s:v1.31.4-k3s1 (no spaces, not starting with '-')");
  }
  return ref;
}

function validateText(kind: string, value: string): string {
  if (typeof value !== "string" || value.includes("\0")) {
    throw new DockerNameError(kind, String(value), "must be a string without NUL bytes");
  }
  return value;
}

function validateKey(kind: string, key: string): string {
  if (!key || /[=\s\0]/.test(key)) {
    throw new DockerNameError(kind, key, "must be non-empty and contain no '=', whitespace or NUL");
  }
  return key;
}

function keyValues(flag: string, kind: string, map: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(map ?? {})) out.push(flag, `${validateKey(kind, k)}=${validateText(kind + " value", v)}`);
  return out;
}

// ---------------------------------------------------------------------------
// The CLI

export interface DockerOptions {
  /** Kill the CLI after this long (default 60 s); a timeout throws `DockerError` with `timedOut`. */
  timeoutMs?: number;
  /** Bytes or text piped to the CLI's stdin. */
  stdin?: Uint8Array | string;
  /** Extra environment for the CLI (e.g. `DOCKER_HOST`). */
  env?: Record<string, string>;
  /** The CLI binary, default `docker`. */
  cli?: string;
}

/**
 * Runs `docker args…` and returns its result whatever the exit code. Throws
 * only `DockerUnavailableError` (CLI missing, daemon unreachable).
 */
export async function dockerResult(args: readonly string[], opts: DockerOptions = {}): Promise<RunResult> {
  let result: RunResult;
  try {
    result = await run(opts.cli ?? "docker", args, { timeoutMs: opts.timeoutMs, stdin: opts.stdin, env: opts.env });
    // The CLI pings the daemon before `run`/`create`; a ping lost under load
    // ("unknown server OS: ") stops it before anything was sent: try once more.
    if (result.code !== 0 && PING_LOST.test(result.stderr)) {
      result = await run(opts.cli ?? "docker", args, { timeoutMs: opts.timeoutMs, stdin: opts.stdin, env: opts.env });
    }
  } catch (err) {
    if (err instanceof CommandNotFoundError) {
      throw new DockerUnavailableError(
        "cli-missing",
        `the docker CLI is not installed or not on PATH; install Docker (Debian: apt-get install docker.io) (${err.message})`,
      );
    }
    throw err;
  }
  const unreachable = args[0] === "exec" ? DAEMON_UNREACHABLE_AT_START : DAEMON_UNREACHABLE;
  if (result.code !== 0 && unreachable.test(result.stderr)) throw daemonUnreachable(result.stderr);
  return result;
}

function daemonUnreachable(stderr: string): DockerUnavailableError {
  const detail = stderr.split("\n").find((l) => DAEMON_UNREACHABLE_AT_START.test(l))?.replace(/^docker: /, "").trim() ??
    summarize(stderr, 1);
  const perms = /permission denied/i.test(stderr) ? " or add your user to the `docker` group" : "";
  return new DockerUnavailableError(
    "daemon-unreachable",
    `the Docker daemon is not reachable (${detail}); start it (e.g. \`dockerd &\` as root, or \`systemctl start docker\`)${perms} or set DOCKER_HOST`,
    stderr,
  );
}

/** Runs `docker args…` and returns stdout; throws `DockerError` on a non-zero exit. */
export async function docker(args: readonly string[], opts: DockerOptions = {}): Promise<string> {
  const r = await dockerResult(args, opts);
  if (r.code !== 0 || r.timedOut) throw new DockerError(args, r.code, r.stderr, r.timedOut);
  return r.stdout;
}

// ---------------------------------------------------------------------------
// Engine and images

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

/** True when `ref` is present locally. */
export async function imageExists(ref: string): Promise<boolean> {
  const args = ["image", "inspect", "--format", "{{.Id}}", validateImage(ref)];
  const r = await dockerResult(args);
  if (r.code === 0) return true;
  if (/no such image/i.test(r.stderr)) return false;
  throw new DockerError(args, r.code, r.stderr, r.timedOut);
}

/** Pulls `ref`; throws `ImagePullError` carrying Docker's explanation. */
export async function pullImage(ref: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const args = ["pull", "--quiet", validateImage(ref)];
  const r = await dockerResult(args, { timeoutMs: opts.timeoutMs ?? 600_000 });
  if (r.code !== 0 || r.timedOut) throw new ImagePullError(ref, args, r.code, r.stderr, r.timedOut);
}

// ---------------------------------------------------------------------------
// Networks

/** Creates a bridge network and returns its id. */
export async function createNetwork(name: string, labels: Record<string, string> = {}): Promise<string> {
  const out = await docker(["network", "create", ...keyValues("--label", "label", labels), validateName(name, "network name")]);
  return out.trim();
}

/** Removes networks by name or id; ones that no longer exist are ignored. */
export async function removeNetworks(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const args = ["network", "rm", ...names.map((n) => validateName(n, "network name"))];
  // A container still being removed (a `docker rm -f` racing teardown) holds its
  // endpoint for a moment: "has active endpoints" is retried for a few seconds.
  const until = Date.now() + NETWORK_BUSY_RETRY_MS;
  while (true) {
    const r = await dockerResult(args);
    if (r.code === 0) return;
    if (!unexplained(r.stderr, /no such network|network \S+ not found|: network not found/i)) return;
    if (!/has active endpoints/i.test(r.stderr) || Date.now() >= until) throw new DockerError(args, r.code, r.stderr, r.timedOut);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** The IPAM gateway of a network (IPv4 first): the daemon host's address on that bridge; undefined when it has none. */
export async function networkGateway(name: string): Promise<string | undefined> {
  const out = await docker(["network", "inspect", "--format", "{{json .IPAM.Config}}", validateName(name, "network name")]);
  // deno-lint-ignore no-explicit-any
  const configs: any[] = JSON.parse(out.trim() || "null") ?? [];
  const gateways = configs.map((c) => String(c?.Gateway ?? "")).filter((g) => g !== "");
  return gateways.find((g) => !g.includes(":")) ?? gateways[0];
}

/** Connects a container (created or running) to another network, with DNS aliases there. */
export async function connectNetwork(network: string, container: string, aliases: readonly string[] = []): Promise<void> {
  const args = ["network", "connect", ...aliases.flatMap((a) => ["--alias", validateName(a, "network alias")])];
  await docker([...args, validateName(network, "network name"), validateName(container, "container")]);
}
/** How long removing a network retries while a dying container still holds an endpoint on it. */
const NETWORK_BUSY_RETRY_MS = 10_000;

/** True when stderr holds an error line that `ignorable` does not cover. */
function unexplained(stderr: string, ignorable: RegExp): boolean {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l && !/^exit status \d+$/.test(l));
  return lines.length === 0 || lines.some((l) => !ignorable.test(l));
}

// ---------------------------------------------------------------------------
// Containers

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

/** A named volume mounted into a container (see lib/docker/volumes.ts). */
export interface VolumeMount {
  volume: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly?: boolean;
}

/** `--mount type=volume,…` for one mount (commas would split the option, so they are refused). */
export function mountArgs(m: VolumeMount): string[] {
  validateName(m.volume, "volume name");
  if (typeof m.target !== "string" || !m.target.startsWith("/") || /[,\0\n]/.test(m.target)) {
    throw new DockerNameError("mount target", String(m.target), "must be an absolute path without ',', newline or NUL");
  }
  return ["--mount", `type=volume,source=${m.volume},target=${m.target}${m.readOnly ? ",readonly" : ""}`];
}

/**
 * Creates (does not start) a container and returns its id. Never pulls:
 * a missing image fails fast (`--pull never`); use `pullImage` first.
 */
export async function createContainer(spec: ContainerSpec): Promise<string> {
  const args = ["create", "--pull", "never", "--name", validateName(spec.name, "container name")];
  if (spec.network) args.push("--network", validateName(spec.network, "network name"));
  if (spec.aliases?.length) {
    if (!spec.network) throw new DockerNameError("network alias", spec.aliases[0], "aliases need `network` to be set");
    for (const a of spec.aliases) args.push("--network-alias", validateName(a, "network alias"));
  }
  args.push(...keyValues("--label", "label", spec.labels), ...keyValues("--env", "environment variable", spec.env));
  for (const t of spec.tmpfs ?? []) {
    if (!t.startsWith("/")) throw new DockerNameError("tmpfs mount", t, "must be an absolute path, optionally followed by :options");
    args.push("--tmpfs", validateText("tmpfs mount", t));
  }
  if (spec.cgroupns) {
    if (spec.cgroupns !== "host" && spec.cgroupns !== "private") {
      throw new DockerNameError("cgroupns mode", spec.cgroupns, "must be \"host\" or \"private\"");
    }
    args.push("--cgroupns", spec.cgroupns);
  }
  if (spec.privilege) args.push(...privilegeArgs(spec.privilege, spec.cgroupns));
  for (const p of spec.publish ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new DockerNameError("port", String(p), "must be an integer 1-65535");
    args.push("--publish", `127.0.0.1::${p}/tcp`);
    if (spec.publishHost && spec.publishHost !== "127.0.0.1") {
      const h = validateText("publish address", spec.publishHost);
      if (!/^[0-9a-fA-F.:]+$/.test(h)) throw new DockerNameError("publish address", h, "must be an IP address");
      args.push("--publish", `${h.includes(":") ? `[${h}]` : h}::${p}/tcp`);
    }
  }
  for (const m of spec.mounts ?? []) args.push(...mountArgs(m));
  for (const h of spec.addHosts ?? []) {
    if (!/^[A-Za-z0-9.-]+:[0-9a-fA-F.:]+$/.test(h)) throw new DockerNameError("extra host", h, "must be name:ip-address");
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
  if (!destDir.startsWith("/")) throw new DockerNameError("destination directory", destDir, "must be an absolute path");
  await docker(["cp", "-", `${validateName(container, "container")}:${validateText("destination directory", destDir)}`], {
    stdin: tarBytes,
  });
}

export async function startContainer(id: string): Promise<void> {
  await docker(["start", validateName(id, "container")]);
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
  image: string;
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

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const EXEC_DOCKER_FAILURE =
  /^Error response from daemon: (No such container|Container \S+ is (not running|paused|restarting))/m;

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
  if (argv.length === 0) throw new DockerNameError("exec command", "", "needs at least one argument");
  const args = ["exec", ...(opts.stdin !== undefined ? ["--interactive"] : []), ...keyValues("--env", "environment variable", opts.env)];
  args.push(validateName(container, "container"), ...argv.map((a) => validateText("command argument", a)));
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

/**
 * The last `lines` lines of a container's output, stdout and stderr merged
 * in time order (by Docker's per-line timestamps; lines written within the
 * same instant to both streams may interleave approximately).
 */
export async function logsTail(container: string, lines = 50): Promise<string> {
  if (!Number.isInteger(lines) || lines < 0) throw new DockerNameError("line count", String(lines), "must be a non-negative integer");
  const r = await dockerResult(["logs", "--timestamps", "--tail", String(lines), validateName(container, "container")]);
  // `docker logs` exits non-zero only when Docker fails; then stderr is its message, not the container's.
  if (r.code !== 0) throw new DockerError(["logs", container], r.code, r.stderr, r.timedOut);
  const entries: { key: string; seq: number; text: string }[] = [];
  let seq = 0;
  for (const stream of [r.stdout, r.stderr]) {
    for (const line of stream.split("\n")) {
      if (line === "") continue;
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ?(.*)$/s.exec(line);
      if (!m) entries.push({ key: "", seq: seq++, text: line });
      else entries.push({ key: `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}${m[3]}`, seq: seq++, text: m[4] });
    }
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq));
  return entries.map((e) => e.text + "\n").join("");
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

export interface LabelledObject {
  id: string;
  name: string;
  labels: Record<string, string>;
  createdAt: Date;
  /** Containers only: Docker's state word (`running`, `exited`, `paused`, `created`, …). */
  state?: string;
}

/** A plain label key: safe to quote in a `docker ps` template, and where a `k=v` piece of `ps`'s label list starts. */
const PLAIN_LABEL_KEY = "[A-Za-z0-9][A-Za-z0-9._/-]*";
const TEMPLATE_SAFE_KEY = new RegExp(`^${PLAIN_LABEL_KEY}$`);
const LABEL_PIECE = new RegExp(`^(${PLAIN_LABEL_KEY})=(.*)$`, "s");

/**
 * Containers (any state) or networks carrying every one of `labelFilters`
 * (`key` or `key=value`). At least one filter is required, so a cleanup
 * path can never list — and then remove — everything.
 *
 * Containers are listed with `docker ps`, never `docker inspect`: the daemon
 * answers `ps` from its snapshot, while `inspect` waits for each container's
 * lock, and one wedged container (Docker 20.10 + runc hang for good when a
 * container is paused while an exec starts) would otherwise stall every
 * listing, prune and `down` on the daemon. `ps` joins labels as `k=v,k=v`:
 * the keys named in `labelFilters` are read exactly, the rest are split on
 * commas (k3sbox's own values never contain one; a foreign value containing
 * `,x=` would split wrongly).
 */
export async function listByLabel(kind: "container" | "network", labelFilters: readonly string[]): Promise<LabelledObject[]> {
  if (kind !== "container" && kind !== "network") throw new DockerNameError("object kind", kind, "must be \"container\" or \"network\"");
  if (labelFilters.length === 0) throw new DockerNameError("label filter list", "", "needs at least one label filter");
  const filters = labelFilters.flatMap((f) => {
    validateKey("label filter", f.split("=")[0]);
    return ["--filter", `label=${validateText("label filter", f)}`];
  });
  if (kind === "container") return await listContainersByLabel(filters, labelFilters.map((f) => f.split("=")[0]));
  const ids = (await docker(["network", "ls", "--quiet", "--no-trunc", ...filters])).split("\n").map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0) return [];
  const inspect = ["network", "inspect", ...ids];
  const r = await dockerResult(inspect);
  // Something may vanish between the listing and the inspect: keep the rest.
  if (r.code !== 0 && unexplained(r.stderr, NOT_FOUND)) throw new DockerError(inspect, r.code, r.stderr, r.timedOut);
  // deno-lint-ignore no-explicit-any
  const objects: any[] = r.stdout.trim() ? JSON.parse(r.stdout) : [];
  return objects.map((o) => ({ id: o.Id, name: String(o.Name ?? ""), labels: o.Labels ?? {}, createdAt: new Date(o.Created) }));
}

async function listContainersByLabel(filters: string[], exactKeys: string[]): Promise<LabelledObject[]> {
  const keys = [...new Set(exactKeys)].filter((k) => TEMPLATE_SAFE_KEY.test(k));
  const fields = ["{{json .ID}}", "{{json .Names}}", "{{json .CreatedAt}}", "{{json .State}}", "{{json .Labels}}", ...keys.map((k) => `{{json (.Label "${k}")}}`)];
  const out = await docker(["ps", "--all", "--no-trunc", ...filters, "--format", `[${fields.join(",")}]`]);
  return out.split("\n").filter((l) => l.trim()).map((line) => {
    const [id, names, created, state, joined, ...exact] = JSON.parse(line) as string[];
    const labels = splitJoinedLabels(joined);
    keys.forEach((k, i) => {
      if (exact[i] !== "" || k in labels) labels[k] = exact[i];
    });
    return { id, name: names.split(",")[0], labels, createdAt: parsePsTime(created), state };
  });
}

/** `a=1,b=x,y` → {a: "1", b: "x,y"}: a piece that does not start with a key and `=` continues the previous value. */
function splitJoinedLabels(joined: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let last: string | undefined;
  for (const piece of joined ? joined.split(",") : []) {
    const m = LABEL_PIECE.exec(piece);
    if (m) labels[last = m[1]] = m[2];
    else if (last !== undefined) labels[last] += `,${piece}`;
  }
  return labels;
}

/** `docker ps` time, e.g. `2026-11-24 22:14:09 +0000 UTC`. */
function parsePsTime(s: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2})/.exec(s);
  return m ? new Date(`${m[1]}T${m[2]}${m[3]}:${m[4]}`) : new Date(NaN);
}

// ---------------------------------------------------------------------------
// Waiting for exit

/** Rejection reason of `WaitHandle.exited` after `cancel()`. */
export class WaitCancelledError extends Error {
  constructor(readonly container: string) {
    super(`waiting for container ${container} to exit was cancelled`);
    this.name = "WaitCancelledError";
  }
}

export interface WaitHandle {
  /** The container's exit code. Rejects with `WaitCancelledError` after `cancel()`, `DockerError` if Docker fails. */
  readonly exited: Promise<number>;
  /** Stops waiting and kills the `docker wait` process. Idempotent. */
  cancel(): void;
}

/**
 * Watches a container with one long-lived `docker wait`. Call it after
 * `startContainer`: on a created-but-never-started container `docker wait`
 * returns 0 at once. Always `cancel()` a handle you stop caring about; the
 * child otherwise keeps the process alive until the container exits.
 */
export function waitExit(container: string, opts: Pick<DockerOptions, "cli" | "env"> = {}): WaitHandle {
  const args = ["wait", validateName(container, "container")];
  let cancelled = false;
  const started = spawnProcess(opts.cli ?? "docker", args, { env: opts.env });
  const exited = started.then(
    async (child) => {
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      if (cancelled) throw new WaitCancelledError(container);
      if (code === 0 && /^-?\d+$/.test(stdout.trim())) return Number(stdout.trim());
      if (DAEMON_UNREACHABLE.test(stderr)) throw daemonUnreachable(stderr);
      throw new DockerError(args, code, stderr || `unexpected output ${JSON.stringify(stdout.trim())}`);
    },
    (e: Error) => {
      throw cancelled ? new WaitCancelledError(container) : new DockerUnavailableError(
        "cli-missing",
        `the docker CLI is not installed or not on PATH; install Docker (Debian: apt-get install docker.io) (${e.message})`,
      );
    },
  );
  exited.catch(() => {}); // a cancelled handle nobody awaits is not an unhandled rejection
  return {
    exited,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      started.then((child) => child.kill("SIGKILL"), () => {});
    },
  };
}

// ---------------------------------------------------------------------------
// Privileged containers

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
    throw new DockerNameError("capability", String(name), "expected a Linux capability name without CAP_, e.g. SYS_RESOURCE");
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
    throw new DockerNameError("privilege mode", String(mode), "must be \"full\" or \"capabilities\"");
  }
  if (!Array.isArray(privilege.drop)) throw new DockerNameError("privilege.drop", String(privilege.drop), "must be an array of capability names");
  if (typeof privilege.kmsg !== "boolean") throw new DockerNameError("privilege.kmsg", String(privilege.kmsg), "must be true or false");
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

/**
 * Removes the containers, then the networks, carrying every label of
 * `filter` (and passing `keep`). Returns the names removed.
 */
export async function removeLabelled(
  filter: string[],
  keep: (o: LabelledObject) => boolean = () => true,
): Promise<{ containers: string[]; networks: string[] }> {
  const [containers, networks] = await Promise.all([listByLabel("container", filter), listByLabel("network", filter)]);
  const doomedContainers = containers.filter(keep);
  const doomedNetworks = networks.filter(keep);
  await removeContainers(doomedContainers.map((c) => c.id));
  await removeNetworks(doomedNetworks.map((n) => n.name));
  return { containers: doomedContainers.map((c) => c.name), networks: doomedNetworks.map((n) => n.name) };
}
