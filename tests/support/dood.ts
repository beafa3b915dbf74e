// A test process inside a container that talks to the host's Docker through
// its socket ("Docker-outside-of-Docker", a CI job container with
// /var/run/docker.sock mounted). The container is the locally built busybox
// image with the host's / bind-mounted at /host; the process runs chrooted
// into it, so it has this checkout, the runtimes and the docker CLI, but its
// own network and PID namespaces, as a job container has.

import { run, type RunResult } from "../../lib/proc.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "./images.ts";
import { scriptArgv } from "./script.ts";

export const DOOD_LABEL = "k3sbox.test=dood";

/** Passed into the container: what the runtime and the test need. */
const PASS_ENV = ["PATH", "HOME", "NODE_OPTIONS", "NODE_COMPILE_CACHE", "K3SBOX_TESTBED_IMAGE", "K3SBOX_TESTBED_BIN"];

/**
 * Runs `script` (a .ts file) with the test's runtime inside such a
 * container named `name`, and returns its result (the container is removed).
 */
export async function runInSocketContainer(name: string, script: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<RunResult> {
  await ensureBusyboxImage();
  const envArgs: string[] = [];
  for (const k of PASS_ENV) if (process.env[k]) envArgs.push("--env", `${k}=${process.env[k]}`);
  for (const [k, v] of Object.entries(env)) envArgs.push("--env", `${k}=${v}`);
  return await run("docker", [
    "run", "--rm", "--name", name, "--label", DOOD_LABEL, "--volume", "/:/host", ...envArgs,
    BUSYBOX_IMAGE, "chroot", "/host", "/bin/sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", process.cwd(), ...scriptArgv(script),
  ], { timeoutMs });
}
