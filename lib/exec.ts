// Every child process k3sbox starts goes through here: argv arrays only (no
// shell ever sees an argument, so no value can inject a command), process.env
// as it is now, a deadline that is kept, and the same behaviour under Bun,
// Deno and Node — each runtime's own spawning API behind one shape
// (lib/exec/subprocess.ts). The crash watchdog is the one exception: it must
// outlive this process, which only node:child_process's `detached` gives in
// every runtime (lib/runner/reaper.ts).

import { checkTimeoutMs } from "./limits.ts";
import { runtime } from "./runtime.ts";
import { spawnBun } from "./exec/bun.ts";
import { spawnDeno } from "./exec/deno.ts";
import { spawnNode } from "./exec/node.ts";
import type { SpawnOptions, Subprocess } from "./exec/subprocess.ts";

export { ArgumentsTooLongError, CommandNotFoundError, type SpawnOptions, type StdinSource, type Subprocess } from "./exec/subprocess.ts";

/** Starts `cmd args…`; rejects with CommandNotFoundError (or ArgumentsTooLongError) when it cannot start. */
export function spawnProcess(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Promise<Subprocess> {
  try {
    if (runtime === "bun") return Promise.resolve(spawnBun(cmd, args, opts));
    if (runtime === "deno") return Promise.resolve(spawnDeno(cmd, args, opts));
    return spawnNode(cmd, args, opts);
  } catch (err) {
    return Promise.reject(err);
  }
}

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

const text = (s: ReadableStream<Uint8Array> | null) => (s ? new Response(s).text() : Promise.resolve(""));
const toBytes = (s: Uint8Array | string) => (typeof s === "string" ? new TextEncoder().encode(s) : s);

/** Kills `children` with SIGKILL once `timeoutMs` has passed; `clear()` when they are done. */
function deadline(timeoutMs: number, children: Subprocess[]) {
  const state = { timedOut: false };
  const timer = setTimeout(() => {
    state.timedOut = true;
    for (const c of children) c.kill("SIGKILL");
  }, timeoutMs);
  return { state, clear: () => clearTimeout(timer) };
}

/** Runs `cmd args…` to completion and returns its exit code and output. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  // Checked: NaN or a value beyond setTimeout's limit would kill the child at once or never.
  const timeoutMs = checkTimeoutMs(opts.timeoutMs ?? 60_000, `run(${cmd}): option "timeoutMs"`);
  const child = await spawnProcess(cmd, args, { stdin: opts.stdin === undefined ? "ignore" : toBytes(opts.stdin), env: opts.env, cwd: opts.cwd });
  const d = deadline(timeoutMs, [child]);
  try {
    const [stdout, stderr, code] = await Promise.all([text(child.stdout), text(child.stderr), child.exited]);
    return { code, stdout, stderr, timedOut: d.state.timedOut };
  } finally {
    d.clear();
  }
}

export interface Argv {
  cmd: string;
  args: readonly string[];
}

export interface PipelineResult {
  /** Exit code and stderr of the producer. */
  first: { code: number; stderr: string };
  /** Exit code, stdout and stderr of the consumer. */
  second: { code: number; stdout: string; stderr: string };
  /** Both were killed because the pipeline outlived `timeoutMs`. */
  timedOut: boolean;
}

/**
 * Runs `first | second` to completion without a shell: the producer's stdout
 * is the consumer's stdin, nothing is buffered here or written to a file.
 * Default deadline 10 minutes; both are killed past it.
 */
export async function runPipeline(first: Argv, second: Argv, opts: { timeoutMs?: number } = {}): Promise<PipelineResult> {
  const timeoutMs = checkTimeoutMs(opts.timeoutMs ?? 600_000, 'runPipeline(): option "timeoutMs"');
  const producer = await spawnProcess(first.cmd, first.args, { stdout: "pipe" });
  let consumer: Subprocess;
  try {
    consumer = await spawnProcess(second.cmd, second.args, { stdin: { from: producer } });
  } catch (err) {
    producer.kill("SIGKILL");
    throw err;
  }
  const d = deadline(timeoutMs, [producer, consumer]);
  try {
    const [e1, c1, out2, e2, c2] = await Promise.all([text(producer.stderr), producer.exited, text(consumer.stdout), text(consumer.stderr), consumer.exited]);
    return { first: { code: c1, stderr: e1 }, second: { code: c2, stdout: out2, stderr: e2 }, timedOut: d.state.timedOut };
  } finally {
    d.clear();
  }
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
