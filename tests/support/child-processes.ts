// Child processes that start environments, for tests of what happens when
// their owner exits, is killed, or comes back.
import { spawn } from "node:child_process";
import { listByLabel } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { shellExitCode } from "./leftovers.ts";
import { scriptArgv } from "./script.ts";

export const ENV_CHILD = new URL("./env-child.ts", import.meta.url).pathname;
export const REUSE_CHILD = new URL("./reuse-child.ts", import.meta.url).pathname;

/** Starts `script` (env-child.ts) and resolves `ready` with the id it prints as "READY <id>". */
export function startChild(script: string, env: Record<string, string> = {}): { pid: number; ready: Promise<string>; exited: Promise<number | null> } {
  const [cmd, ...args] = scriptArgv(script);
  const cp = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  cp.stderr!.on("data", (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => cp.on("exit", (code, signal) => r(shellExitCode(code, signal))));
  const ready = new Promise<string>((resolve, reject) => {
    let out = "";
    cp.stdout!.on("data", (c) => {
      out += c;
      const m = /READY (\w+)/.exec(out);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`child exited (${code}) before READY: ${stderr}`)));
  });
  return { pid: cp.pid!, ready, exited };
}

export interface ReuseChildOut {
  id: string;
  timings: Record<string, number>;
  setups: number;
}

/**
 * Runs reuse-child.ts to the end: it starts (or attaches to) the reuse
 * environment of `variant` and leaves it running. Callers put a per-run
 * random part in `variant`, so runs never meet each other's environments.
 */
export async function runReuseChild(variant: string, extraEnv: Record<string, string> = {}): Promise<ReuseChildOut> {
  const [cmd, ...args] = scriptArgv(REUSE_CHILD);
  const r = await run(cmd, args, { env: { K3SBOX_CHILD_VARIANT: variant, ...extraEnv }, timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`reuse child ${variant}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

export const containersOf = async (envId: string) => (await listByLabel("container", [`${LABEL_ENV}=${envId}`])).map((c) => c.id);

/** A random hex tag for names and definitions that must be this run's own. */
export const runTag = () => Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
