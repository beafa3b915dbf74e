// Bun's backend: Bun.spawn, whose pipes are web streams already. Its stdin
// takes bytes or another child's stdout directly (no copy through here).

import { childEnv, exitCode, type SpawnOptions, spawnError, type Subprocess } from "./subprocess.ts";

interface BunSink {
  write(chunk: Uint8Array): number;
  flush(): number | Promise<number>;
  end(): number | Promise<number>;
}
interface BunProcess {
  pid: number;
  stdin: BunSink | null;
  stdout: ReadableStream<Uint8Array> | null;
  stderr: ReadableStream<Uint8Array> | null;
  exited: Promise<number>;
  exitCode: number | null;
  signalCode: string | null;
  kill(signal?: string): void;
}
interface BunGlobal {
  spawn(argv: string[], opts: Record<string, unknown>): BunProcess;
}

export function spawnBun(cmd: string, args: readonly string[], opts: SpawnOptions): Subprocess {
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  let proc: BunProcess;
  try {
    proc = bun.spawn([cmd, ...args], {
      stdin: opts.stdin && typeof opts.stdin === "object" && "from" in opts.stdin ? opts.stdin.from.stdout : opts.stdin ?? "ignore",
      stdout: opts.stdout ?? "pipe",
      stderr: opts.stderr ?? "pipe",
      // Always passed: Bun.spawn's default is the environment at startup, not process.env now.
      env: childEnv(opts.env),
      cwd: opts.cwd,
    });
  } catch (err) {
    throw spawnError(cmd, args, err);
  }
  const sink = proc.stdin;
  const stdin = opts.stdin === "pipe" && sink
    ? new WritableStream<Uint8Array>({
      write: async (chunk) => {
        sink.write(chunk);
        await sink.flush();
      },
      close: async () => void (await sink.end()),
      abort: async () => void (await sink.end()),
    })
    : null;
  return {
    pid: proc.pid,
    stdin,
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited: proc.exited.then(() => exitCode(proc.exitCode, proc.signalCode)),
    kill: (signal = "SIGTERM") => {
      try {
        proc.kill(signal);
      } catch { /* gone */ }
    },
  };
}
