// The one shape every child process has, whatever runtime runs k3sbox: an
// argv (never a shell string), web streams for its pipes, a promise of its
// exit code. Each runtime's backend (bun.ts, deno.ts, node.ts) makes one.

/** What a child's stdin is: nothing, a pipe this process writes, fixed bytes, or another child's stdout (`{ from }`, as a shell's `|`). */
export type StdinSource = "ignore" | "pipe" | Uint8Array | { from: Subprocess };

export interface SpawnOptions {
  stdin?: StdinSource;
  stdout?: "pipe" | "ignore";
  stderr?: "pipe" | "ignore";
  /** Extra variables, over process.env as it is now (not as the runtime started). */
  env?: Record<string, string>;
  cwd?: string;
}

export interface Subprocess {
  readonly pid: number;
  /** With `stdin: "pipe"`: closing it ends the child's input. */
  readonly stdin: WritableStream<Uint8Array> | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** The exit code; a child ended by a signal gives 128 + the signal's number, as a shell does. */
  readonly exited: Promise<number>;
  /** Signals the child; a child that is gone already is no error. */
  kill(signal?: "SIGTERM" | "SIGKILL" | "SIGINT"): void;
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
export function spawnError(cmd: string, args: readonly string[], cause: unknown): Error {
  const text = `${(cause as Error)?.message ?? cause} ${(cause as { code?: string })?.code ?? ""}`;
  return /E2BIG|argument list too long/i.test(text) ? new ArgumentsTooLongError(cmd, args) : new CommandNotFoundError(cmd, cause);
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

/** An exit code, or 128 + the number of the signal that ended the process. */
export function exitCode(code: number | null | undefined, signal: string | number | null | undefined): number {
  if (typeof code === "number") return code;
  if (typeof signal === "number") return 128 + signal;
  if (signal) return 128 + (SIGNALS[signal] ?? 0);
  return -1;
}

/** The child's environment: process.env now, with `extra` over it. */
export function childEnv(extra?: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, ...extra };
}
