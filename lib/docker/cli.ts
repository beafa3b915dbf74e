// The Docker CLI, driven with argv arrays through lib/exec.ts: no shell ever
// sees a value. Every module of lib/docker/ runs `docker` through here, and
// nothing outside lib/docker/ builds a docker argv (tests/unit/boundaries.test.ts).
// Also the errors a `docker` call ends in, and the CLI's words for them.

import { type Argv, CommandNotFoundError, run, type RunResult } from "../exec.ts";

/** The binary, unless a call names another (`DockerOptions.cli`). */
export const DOCKER_CLI = "docker";

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

// Podman's Docker API says "unable to find network with name or ID …: network not found".
export const NOT_FOUND = /no such (container|object|network|image)|network \S+ not found|: network not found/i;
// The CLI's own words when it cannot reach the engine, at the start of a line
// (after e.g. a deprecation notice). For `docker exec`, whose stderr is the
// command's, only the very start of stderr counts.
export const DAEMON_UNREACHABLE =
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
export function summarize(stderr: string, code: number): string {
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

/** True when stderr holds an error line that `ignorable` does not cover. */
export function unexplained(stderr: string, ignorable: RegExp): boolean {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l && !/^exit status \d+$/.test(l));
  return lines.length === 0 || lines.some((l) => !ignorable.test(l));
}

export function cliMissing(cause: string): DockerUnavailableError {
  return new DockerUnavailableError(
    "cli-missing",
    `the docker CLI is not installed or not on PATH; install Docker (Debian: apt-get install docker.io) (${cause})`,
  );
}

export function daemonUnreachable(stderr: string): DockerUnavailableError {
  const detail = stderr.split("\n").find((l) => DAEMON_UNREACHABLE_AT_START.test(l))?.replace(/^docker: /, "").trim() ??
    summarize(stderr, 1);
  const perms = /permission denied/i.test(stderr) ? " or add your user to the `docker` group" : "";
  return new DockerUnavailableError(
    "daemon-unreachable",
    `the Docker daemon is not reachable (${detail}); start it (e.g. \`dockerd &\` as root, or \`systemctl start docker\`)${perms} or set DOCKER_HOST`,
    stderr,
  );
}

// ---------------------------------------------------------------------------
// Running it

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
  const once = () => run(opts.cli ?? DOCKER_CLI, args, { timeoutMs: opts.timeoutMs, stdin: opts.stdin, env: opts.env });
  try {
    result = await once();
    // The CLI pings the daemon before `run`/`create`; a ping lost under load
    // ("unknown server OS: ") stops it before anything was sent: try once more.
    if (result.code !== 0 && PING_LOST.test(result.stderr)) result = await once();
  } catch (err) {
    if (err instanceof CommandNotFoundError) throw cliMissing(err.message);
    throw err;
  }
  const unreachable = args[0] === "exec" ? DAEMON_UNREACHABLE_AT_START : DAEMON_UNREACHABLE;
  if (result.code !== 0 && unreachable.test(result.stderr)) throw daemonUnreachable(result.stderr);
  return result;
}

/** Runs `docker args…` and returns stdout; throws `DockerError` on a non-zero exit. */
export async function docker(args: readonly string[], opts: DockerOptions = {}): Promise<string> {
  const r = await dockerResult(args, opts);
  if (r.code !== 0 || r.timedOut) throw new DockerError(args, r.code, r.stderr, r.timedOut);
  return r.stdout;
}

/** `docker args…` as one end of a `runPipeline` (lib/exec.ts), for streams too large to hold in memory. */
export function dockerCommand(args: readonly string[]): Argv {
  return { cmd: DOCKER_CLI, args: [...args] };
}
