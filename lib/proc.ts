// Process spawning for Bun, Deno and Node, always with an argv array: no
// shell ever sees an argument, so no value can inject a command.

import { checkTimeoutMs } from "./limits.ts";
import { runtime } from "./runtime.ts";

export interface RunOptions {
  /** Kill the process (SIGKILL) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Bytes or text written to the process's stdin, which is then closed. */
  stdin?: Uint8Array | string;
  /** Extra environment variables (merged over the current environment). */
  env?: Record<string, string>;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the process was killed because it outlived `timeoutMs`. */
  timedOut: boolean;
}

/** Thrown when a command cannot be started at all (e.g. not installed). */
export class CommandNotFoundError extends Error {
  constructor(readonly command: string, cause: unknown) {
    super(`${command}: command not found on PATH (${(cause as Error)?.message ?? cause})`);
    this.name = "CommandNotFoundError";
  }
}

/** The OS refused to start a command because its arguments are too long (E2BIG). */
export class ArgumentsTooLongError extends Error {
  constructor(readonly command: string, args: readonly string[]) {
    const longest = Math.max(0, ...args.map((a) => a.length));
    super(
      `${command}: the operating system refused its arguments as too long (E2BIG; longest argument ${longest} characters, ` +
        `Linux allows 128 KiB per argument)`,
    );
    this.name = "ArgumentsTooLongError";
  }
}

/** The error to throw when spawning `cmd` failed: E2BIG is not "command not found". */
function spawnError(cmd: string, args: readonly string[], cause: unknown): Error {
  const text = `${(cause as Error)?.message ?? cause} ${(cause as { code?: string })?.code ?? ""}`;
  return /E2BIG|argument list too long/i.test(text) ? new ArgumentsTooLongError(cmd, args) : new CommandNotFoundError(cmd, cause);
}

const decoder = new TextDecoder();
const toBytes = (s: Uint8Array | string) => (typeof s === "string" ? new TextEncoder().encode(s) : s);

/** Runs `cmd args…` to completion and returns its exit code and output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  // Checked: NaN or a value beyond setTimeout's limit would kill the child at once or never.
  let timeoutMs: number;
  try {
    timeoutMs = checkTimeoutMs(opts.timeoutMs ?? 60_000, `run(${cmd}): option "timeoutMs"`);
  } catch (err) {
    return Promise.reject(err); // a rejection, as every other failure of run()
  }
  switch (runtime) {
    case "bun":
      return runBun(cmd, args, opts, timeoutMs);
    case "deno":
      return runDeno(cmd, args, opts, timeoutMs);
    default:
      return runNode(cmd, args, opts, timeoutMs);
  }
}

async function runBun(cmd: string, args: readonly string[], opts: RunOptions, timeoutMs: number): Promise<RunResult> {
  // deno-lint-ignore no-explicit-any
  const Bun = (globalThis as any).Bun;
  let proc;
  try {
    proc = Bun.spawn([cmd, ...args], {
      stdin: opts.stdin === undefined ? "ignore" : toBytes(opts.stdin),
      stdout: "pipe",
      stderr: "pipe",
      // Always passed: Bun.spawn's default is the environment at startup, not
      // process.env now (a DOCKER_HOST a test file sets would be ignored).
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
    });
  } catch (err) {
    throw spawnError(cmd, args, err);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code: code ?? -1, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

async function runDeno(cmd: string, args: readonly string[], opts: RunOptions, timeoutMs: number): Promise<RunResult> {
  // deno-lint-ignore no-explicit-any
  const Deno = (globalThis as any).Deno;
  let child;
  try {
    child = new Deno.Command(cmd, {
      args: [...args],
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
      cwd: opts.cwd,
    }).spawn();
  } catch (err) {
    throw spawnError(cmd, args, err);
  }
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(toBytes(opts.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr), timedOut };
  } finally {
    clearTimeout(timer);
  }
}

async function runNode(cmd: string, args: readonly string[], opts: RunOptions, timeoutMs: number): Promise<RunResult> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    let cp;
    try {
      cp = spawn(cmd, [...args], {
        stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        env: opts.env ? { ...process.env, ...opts.env } : undefined,
        cwd: opts.cwd,
      });
    } catch (err) {
      return reject(spawnError(cmd, args, err)); // Node throws E2BIG here rather than emitting "error"
    }
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    cp.stdout!.on("data", (c: Uint8Array) => out.push(c));
    cp.stderr!.on("data", (c: Uint8Array) => err.push(c));
    if (opts.stdin !== undefined) cp.stdin!.end(toBytes(opts.stdin));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cp.kill("SIGKILL");
    }, timeoutMs);
    cp.on("error", (e) => {
      clearTimeout(timer);
      reject(spawnError(cmd, args, e));
    });
    cp.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        timedOut,
      });
    });
  });
}

/** A long-running child process (a control plane, a `docker wait`). */
export interface Child {
  readonly pid: number;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number>;
  kill(signal?: "SIGTERM" | "SIGKILL" | "SIGINT"): void;
}

/**
 * Starts a process without waiting for it. Its output is appended to the
 * file `logPath` when given, otherwise discarded.
 */
export async function spawnChild(
  cmd: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; logPath?: string; cwd?: string } = {},
): Promise<Child> {
  const { spawn } = await import("node:child_process");
  const { openSync, closeSync } = await import("node:fs");
  const fd = opts.logPath ? openSync(opts.logPath, "a", 0o600) : "ignore";
  const cp = spawn(cmd, [...args], {
    stdio: ["ignore", fd, fd],
    env: opts.env ? { ...process.env, ...opts.env } : undefined,
    cwd: opts.cwd,
  });
  if (typeof fd === "number") closeSync(fd);
  const exited = new Promise<number>((resolve, reject) => {
    cp.on("error", (e) => reject(new CommandNotFoundError(cmd, e)));
    cp.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1)));
  });
  if (cp.pid === undefined) {
    await exited; // surfaces the spawn error
    throw new CommandNotFoundError(cmd, "no pid");
  }
  return { pid: cp.pid, exited, kill: (signal = "SIGTERM") => void cp.kill(signal) };
}

/** True when a process with this pid exists (EPERM: it exists but is not ours to signal). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}
