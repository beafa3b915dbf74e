// Deno's backend: Deno.Command, whose pipes are web streams already.

import { childEnv, exitCode, type SpawnOptions, spawnError, type Subprocess } from "./subprocess.ts";

interface DenoChild {
  pid: number;
  stdin: WritableStream<Uint8Array>;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  status: Promise<{ code: number; signal: string | null }>;
  kill(signal?: string): void;
}
interface DenoGlobal {
  Command: new (cmd: string, opts: Record<string, unknown>) => { spawn(): DenoChild };
}

export function spawnDeno(cmd: string, args: readonly string[], opts: SpawnOptions): Subprocess {
  const deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;
  const input = opts.stdin ?? "ignore";
  let child: DenoChild;
  try {
    child = new deno.Command(cmd, {
      args: [...args],
      stdin: input === "ignore" ? "null" : "piped",
      stdout: opts.stdout === "ignore" ? "null" : "piped",
      stderr: opts.stderr === "ignore" ? "null" : "piped",
      env: childEnv(opts.env),
      cwd: opts.cwd,
    }).spawn();
  } catch (err) {
    throw spawnError(cmd, args, err);
  }
  // Fixed bytes or another child's output: written here. A child that exits
  // before reading it all breaks the pipe, which its exit code reports.
  if (input instanceof Uint8Array) {
    const writer = child.stdin.getWriter();
    writer.write(input).then(() => writer.close()).catch(() => {});
  } else if (typeof input === "object") {
    input.from.stdout?.pipeTo(child.stdin).catch(() => {});
  }
  return {
    pid: child.pid,
    stdin: input === "pipe" ? child.stdin : null,
    stdout: opts.stdout === "ignore" ? null : child.stdout,
    stderr: opts.stderr === "ignore" ? null : child.stderr,
    exited: child.status.then((s) => (s.signal ? exitCode(null, s.signal) : s.code)),
    kill: (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* gone */ }
    },
  };
}
