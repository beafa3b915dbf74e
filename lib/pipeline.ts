// Two processes joined by a pipe (`first | second`) without a shell, for each
// runtime: Bun hands the first child's stdout to the second as its stdin,
// Deno pipes the two streams, Node pipes the two child_process streams.
// Nothing is buffered in memory or written to a file; argv only.

import { CommandNotFoundError } from "./proc.ts";
import { runtime } from "./runtime.ts";

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

const text = (s: ReadableStream<Uint8Array> | null | undefined) => (s ? new Response(s).text() : Promise.resolve(""));

/** Runs `first | second` to completion. Default deadline 10 minutes; both are killed past it. */
export function runPipeline(first: Argv, second: Argv, opts: { timeoutMs?: number } = {}): Promise<PipelineResult> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  if (runtime === "bun") return bunPipeline(first, second, timeoutMs);
  if (runtime === "deno") return denoPipeline(first, second, timeoutMs);
  return nodePipeline(first, second, timeoutMs);
}

function deadline(timeoutMs: number, kill: () => void) {
  const state = { timedOut: false };
  const timer = setTimeout(() => {
    state.timedOut = true;
    kill();
  }, timeoutMs);
  return { state, clear: () => clearTimeout(timer) };
}

async function bunPipeline(first: Argv, second: Argv, timeoutMs: number): Promise<PipelineResult> {
  // deno-lint-ignore no-explicit-any
  const Bun = (globalThis as any).Bun;
  const spawn = (a: Argv, o: Record<string, unknown>) => {
    try {
      // env: process.env as it is now (Bun.spawn's default is the startup environment).
      return Bun.spawn([a.cmd, ...a.args], { env: { ...process.env }, ...o });
    } catch (err) {
      throw new CommandNotFoundError(a.cmd, err);
    }
  };
  const p1 = spawn(first, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let p2;
  try {
    p2 = spawn(second, { stdin: p1.stdout, stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    p1.kill("SIGKILL");
    throw err;
  }
  const d = deadline(timeoutMs, () => {
    p1.kill("SIGKILL");
    p2.kill("SIGKILL");
  });
  try {
    const [e1, c1, out2, e2, c2] = await Promise.all([text(p1.stderr), p1.exited, text(p2.stdout), text(p2.stderr), p2.exited]);
    return { first: { code: c1 ?? -1, stderr: e1 }, second: { code: c2 ?? -1, stdout: out2, stderr: e2 }, timedOut: d.state.timedOut };
  } finally {
    d.clear();
  }
}

async function denoPipeline(first: Argv, second: Argv, timeoutMs: number): Promise<PipelineResult> {
  // deno-lint-ignore no-explicit-any
  const Deno = (globalThis as any).Deno;
  const spawn = (a: Argv, stdin: string) => {
    try {
      return new Deno.Command(a.cmd, { args: [...a.args], stdin, stdout: "piped", stderr: "piped" }).spawn();
    } catch (err) {
      throw new CommandNotFoundError(a.cmd, err);
    }
  };
  const p1 = spawn(first, "null");
  let p2;
  try {
    p2 = spawn(second, "piped");
  } catch (err) {
    p1.kill("SIGKILL");
    throw err;
  }
  const kill = (p: { kill(s: string): void }) => {
    try {
      p.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  const d = deadline(timeoutMs, () => {
    kill(p1);
    kill(p2);
  });
  try {
    // The consumer may exit early (a bad archive): the pipe then breaks, which is its error to report, not ours.
    const piped = p1.stdout.pipeTo(p2.stdin).catch(() => {});
    const [e1, s1, out2, e2, s2] = await Promise.all([text(p1.stderr), p1.status, text(p2.stdout), text(p2.stderr), p2.status, piped]);
    return { first: { code: s1.code, stderr: e1 }, second: { code: s2.code, stdout: out2, stderr: e2 }, timedOut: d.state.timedOut };
  } finally {
    d.clear();
  }
}

async function nodePipeline(first: Argv, second: Argv, timeoutMs: number): Promise<PipelineResult> {
  const { spawn } = await import("node:child_process");
  const p1 = spawn(first.cmd, [...first.args], { stdio: ["ignore", "pipe", "pipe"] });
  const p2 = spawn(second.cmd, [...second.args], { stdio: ["pipe", "pipe", "pipe"] });
  p1.stdout!.pipe(p2.stdin!);
  p2.stdin!.on("error", () => {}); // EPIPE when the consumer exits early: reported by its exit code
  const collect = (s: NodeJS.ReadableStream | null) => {
    const chunks: Uint8Array[] = [];
    s?.on("data", (c: Uint8Array) => chunks.push(c));
    return () => Buffer.concat(chunks).toString("utf8");
  };
  const [e1, o2, e2] = [collect(p1.stderr), collect(p2.stdout), collect(p2.stderr)];
  const exit = (p: ReturnType<typeof spawn>, a: Argv) =>
    new Promise<number>((resolve, reject) => {
      p.on("error", (e) => reject(new CommandNotFoundError(a.cmd, e)));
      p.on("close", (code) => resolve(code ?? -1));
    });
  const d = deadline(timeoutMs, () => {
    p1.kill("SIGKILL");
    p2.kill("SIGKILL");
  });
  try {
    const [c1, c2] = await Promise.all([exit(p1, first), exit(p2, second)]);
    return { first: { code: c1, stderr: e1() }, second: { code: c2, stdout: o2(), stderr: e2() }, timedOut: d.state.timedOut };
  } finally {
    d.clear();
  }
}
