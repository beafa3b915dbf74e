// A test process inside a container that talks to the host's Docker through
// its socket ("Docker-outside-of-Docker", a CI job container with
// /var/run/docker.sock mounted). The container is the locally built busybox
// image with the host's /usr, /lib, /lib64, this checkout (wherever it is), /root
// (runtime caches) and /tmp bind-mounted at the same paths, so it has the
// sources, the runtimes and the docker CLI where the host has them, but its
// own network and PID namespaces, as a job container has (and a sibling
// started from its image with --volumes-from sees the same files).

import { realpathSync } from "node:fs";
import { dirname } from "node:path";
import { run, type RunResult } from "../../lib/exec.ts";
import { dockerResult, listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { LABEL_WATCHDOG } from "../../lib/runner/reaper.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "./images.ts";
import { scriptArgv } from "./script.ts";

export const DOOD_LABEL = "k3sbox.test=dood";

/** Passed into the container: what the runtime and the test need. */
const PASS_ENV = ["PATH", "HOME", "NODE_OPTIONS", "NODE_COMPILE_CACHE", "K3SBOX_TESTBED_IMAGE", "K3SBOX_TESTBED_BIN"];

/**
 * Runs `script` (a .ts file) with the test's runtime inside such a
 * container named `name`, and returns its result (the container is removed).
 */
export async function runInSocketContainer(name: string, script: string, env: Record<string, string> = {}, timeoutMs = 120_000, args: string[] = []): Promise<RunResult> {
  await ensureBusyboxImage();
  const envArgs: string[] = [];
  for (const k of PASS_ENV) if (process.env[k]) envArgs.push("--env", `${k}=${process.env[k]}`);
  for (const [k, v] of Object.entries(env)) envArgs.push("--env", `${k}=${v}`);
  return await run("docker", ["run", "--rm", ...containerArgs(name, envArgs), ...scriptArgv(script), ...args], { timeoutMs });
}

const BINDS = ["/usr:/usr:ro", "/lib:/lib:ro", "/lib64:/lib64:ro", "/root:/root", "/tmp:/tmp", "/var/run/docker.sock:/var/run/docker.sock"];

/**
 * The bind mounts: the fixed ones, plus the checkout and the runtime's own
 * directory at their paths wherever they are (CI clones somewhere else than
 * a developer's tree), unless a fixed bind already covers them.
 */
export function socketContainerBinds(checkout = process.cwd(), runtimeDir = dirname(realpathSync(process.execPath))): string[] {
  const binds = [...BINDS];
  for (const [path, mode] of [[checkout, ""], [runtimeDir, ":ro"]]) {
    const covered = binds.some((b) => {
      const src = b.split(":")[0];
      return path === src || path.startsWith(src.endsWith("/") ? src : src + "/");
    });
    if (!covered) binds.push(`${path}:${path}${mode}`);
  }
  return binds;
}

function containerArgs(name: string, envArgs: string[]): string[] {
  return [
    "--name", name, "--label", DOOD_LABEL, ...socketContainerBinds().flatMap((b) => ["--volume", b]), ...envArgs,
    "--entrypoint", "/bin/sh", BUSYBOX_IMAGE, "-c", 'cd "$1" && shift && exec "$@"', "sh", process.cwd(),
  ];
}

/** Starts `script` in such a container, detached; returns the container id. */
export async function startInSocketContainer(name: string, script: string, env: Record<string, string> = {}): Promise<string> {
  await ensureBusyboxImage();
  const envArgs: string[] = [];
  for (const k of PASS_ENV) if (process.env[k]) envArgs.push("--env", `${k}=${process.env[k]}`);
  for (const [k, v] of Object.entries(env)) envArgs.push("--env", `${k}=${v}`);
  const r = await run("docker", ["run", "--detach", ...containerArgs(name, envArgs), ...scriptArgv(script)]);
  if (r.code !== 0) throw new Error(`docker run ${name}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The sibling watchdogs still on the daemon for sessions of `container`'s processes. */
export async function siblingsOf(sessionPrefix: string): Promise<string[]> {
  return (await listByLabel("container", [LABEL_WATCHDOG])).filter((c) => c.labels[LABEL_WATCHDOG].startsWith(sessionPrefix)).map((c) => c.name);
}

export async function until<T>(what: string, withinMs: number, get: () => Promise<T>, done: (v: T) => boolean): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  while (true) {
    const value = await get();
    if (done(value)) return { value, ms: Date.now() - t0 };
    if (Date.now() - t0 > withinMs) throw new Error(`${what}: not within ${withinMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The container's output once it says READY; fails at once if it ended first. */
export async function readyLine(name: string): Promise<string> {
  const { value } = await until("READY in the container's output", 60_000, async () => {
    const logs = await dockerResult(["logs", name]).then((r) => r.stdout + r.stderr);
    if (/READY \w+/.test(logs)) return logs;
    const state = (await dockerResult(["inspect", "--format", "{{.State.Status}}", name])).stdout.trim();
    if (state !== "running" && state !== "created") throw new Error(`container ${name} is ${state || "gone"} before READY; its output: ${logs}`);
    return logs;
  }, (l) => /READY \w+/.test(l));
  return value;
}

export async function leftoversOf(envId: string): Promise<string[]> {
  const f = [`${LABEL_ENV}=${envId}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
}
