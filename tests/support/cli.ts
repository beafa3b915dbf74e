// Runs the k3sbox CLI with the runtime running the tests.
import { run, type RunResult } from "../../lib/proc.ts";
import { runtime } from "../../lib/runtime.ts";

const cli = new URL("../../cli.ts", import.meta.url).pathname;

export function k3sbox(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  const prefix = runtime === "deno" ? ["run", "-A", cli] : ["run", cli];
  return run(process.execPath, [...prefix, ...args], { timeoutMs: opts.timeoutMs ?? 120_000 });
}
