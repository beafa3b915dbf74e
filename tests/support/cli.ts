// Runs the k3sbox CLI with the runtime running the tests.
import { spawn } from "node:child_process";
import { run, type RunResult } from "../../lib/exec.ts";
import { scriptArgv } from "./script.ts";
import { shellExitCode } from "./leftovers.ts";
import { runTag } from "./child-processes.ts";

const cli = new URL("../../cli.ts", import.meta.url).pathname;

const argvFor = (args: string[]) => [...scriptArgv(cli).slice(1), ...args];

/** A long-running CLI process (`up` without --detach). */
export function k3sboxChild(args: string[]) {
  const cp = spawn(process.execPath, argvFor(args), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  cp.stdout!.on("data", (c) => (out += c));
  cp.stderr!.on("data", (c) => (err += c));
  // "close": after the exit AND the end of its output, so output() is complete once this resolves.
  const exited = new Promise<number | null>((r) => cp.on("close", (code, sig) => r(shellExitCode(code, sig))));
  return {
    pid: cp.pid!,
    exited,
    /** What it printed so far. */
    output: () => ({ stdout: out, stderr: err }),
    signal: (s: "SIGINT" | "SIGKILL") => void (cp.exitCode === null && cp.kill(s)),
    /** Resolves with stdout once it matches, rejects with stderr if the process ends first or time runs out. */
    waitFor: (pattern: RegExp, timeoutMs: number) =>
      new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          if (pattern.test(out)) (clearInterval(timer), resolve(out));
          else if (cp.exitCode !== null || Date.now() > deadline) (clearInterval(timer), reject(new Error(`k3sbox ${args[0]}: ${pattern} not seen; stderr:\n${err}`)));
        }, 50);
        const deadline = Date.now() + timeoutMs;
      }),
  };
}

export function k3sbox(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, argvFor(args), { timeoutMs: opts.timeoutMs ?? 120_000 });
}

/**
 * `--ingress-domain t<random>.test`: `up --detach` attaches to a running
 * cluster of the same definition, so test files that run in parallel each
 * give their clusters a definition of their own.
 */
export const ownIngressDomain = () => ["--ingress-domain", `t${runTag()}.test`];
