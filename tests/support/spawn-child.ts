// A long-running child for tests and benches (a control plane, a `kubectl
// port-forward`), its output appended to a log file: through the library's
// exec layer, pumped into the file here.

import { open } from "node:fs/promises";
import { spawnProcess } from "../../lib/exec.ts";

export interface Child {
  readonly pid: number;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number>;
  kill(signal?: "SIGTERM" | "SIGKILL" | "SIGINT"): void;
}

/** Starts a process without waiting for it; its output goes to `logPath` (0600) when given, else nowhere. */
export async function spawnChild(cmd: string, args: readonly string[], opts: { env?: Record<string, string>; logPath?: string; cwd?: string } = {}): Promise<Child> {
  // The file is open before the child starts: its pipes are read from the start.
  const file = opts.logPath ? await open(opts.logPath, "a", 0o600) : undefined;
  const child = await spawnProcess(cmd, args, { env: opts.env, cwd: opts.cwd, stdout: file ? "pipe" : "ignore", stderr: file ? "pipe" : "ignore" }).catch(async (err) => {
    await file?.close();
    throw err;
  });
  let pumped: Promise<unknown> = Promise.resolve();
  if (file) {
    const pump = async (s: ReadableStream<Uint8Array> | null) => {
      if (s) for await (const chunk of s) await file.write(chunk);
    };
    pumped = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {}).finally(() => file.close());
  }
  return { pid: child.pid, exited: child.exited.then(async (code) => (await pumped, code)), kill: (s) => child.kill(s) };
}
