// Node's backend: node:child_process, its pipes adapted to web streams on
// first use. A child whose stdin is another child's stdout gets that pipe
// directly (no copy through web streams).

import { type ChildProcess, spawn } from "node:child_process";
import { PassThrough, Readable, Writable } from "node:stream";
import { childEnv, exitCode, type SpawnOptions, spawnError, type Subprocess } from "./subprocess.ts";

/** The node stream behind each child's stdout, for `{ from }` pipes. */
const nodeStdout = new WeakMap<Subprocess, Readable>();

export async function spawnNode(cmd: string, args: readonly string[], opts: SpawnOptions): Promise<Subprocess> {
  const input = opts.stdin ?? "ignore";
  let cp: ChildProcess;
  try {
    cp = spawn(cmd, [...args], {
      stdio: [input === "ignore" ? "ignore" : "pipe", opts.stdout === "ignore" ? "ignore" : "pipe", opts.stderr === "ignore" ? "ignore" : "pipe"],
      env: childEnv(opts.env),
      cwd: opts.cwd,
    });
  } catch (err) {
    throw spawnError(cmd, args, err); // Node throws E2BIG here rather than emitting "error"
  }
  const exited = new Promise<number>((resolve, reject) => {
    cp.once("error", (e) => reject(spawnError(cmd, args, e)));
    cp.once("close", (code, signal) => resolve(exitCode(code, signal)));
  });
  // Started, or the spawn error (ENOENT comes as an event).
  await new Promise<void>((resolve, reject) => {
    cp.once("spawn", resolve);
    exited.catch(reject);
  });
  cp.stdin?.on("error", () => {}); // EPIPE when the child exits before reading its input: its exit code says so
  if (input instanceof Uint8Array) cp.stdin!.end(input);
  else if (typeof input === "object") (nodeStdout.get(input.from) ?? Readable.fromWeb(input.from.stdout! as never)).pipe(cp.stdin!);
  // Read from the start: when a child exits, Node drains and drops whatever
  // of its output nobody is reading yet. Web streams only when asked for, so
  // a stdout piped into another child stays a node stream.
  const stdout = cp.stdout ? cp.stdout.pipe(new PassThrough()) : null;
  const stderr = cp.stderr ? cp.stderr.pipe(new PassThrough()) : null;
  let out: ReadableStream<Uint8Array> | null | undefined, err: ReadableStream<Uint8Array> | null | undefined;
  const web = (s: Readable | null) => (s ? (Readable.toWeb(s) as unknown as ReadableStream<Uint8Array>) : null);
  const child: Subprocess = {
    pid: cp.pid!,
    stdin: input === "pipe" ? (Writable.toWeb(cp.stdin!) as WritableStream<Uint8Array>) : null,
    get stdout() {
      return out === undefined ? (out = web(stdout)) : out;
    },
    get stderr() {
      return err === undefined ? (err = web(stderr)) : err;
    },
    exited,
    kill: (signal = "SIGTERM") => void cp.kill(signal),
  };
  if (stdout) nodeStdout.set(child, stdout);
  return child;
}
