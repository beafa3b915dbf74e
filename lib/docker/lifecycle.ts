// A container's run state as a test tool: stop, start, pause, unpause,
// kill (k3s node handles, lib/k3s/nodes.ts). One `docker` call each.

import { sleep } from "../sleep.ts";
import { validateName } from "./args.ts";
import { docker, DockerError } from "./cli.ts";

export type LifecycleAction = "stop" | "start" | "pause" | "unpause" | "kill";

/** `docker stop` waits this long for the container's own shutdown before SIGKILL (Docker's default too). */
export const STOP_GRACE_SECS = 10;

/** Runs one lifecycle action on a container. */
export async function containerLifecycle(container: string, action: LifecycleAction): Promise<void> {
  const id = validateName(container, "container");
  switch (action) {
    case "stop":
      await docker(["stop", "--time", String(STOP_GRACE_SECS), id], { timeoutMs: (STOP_GRACE_SECS + 30) * 1000 });
      return;
    case "kill":
      await docker(["kill", id]);
      return;
    case "pause":
      await retryFreeze(() => docker(["pause", id]).then(() => undefined));
      return;
    case "start":
    case "unpause":
      await docker([action, id]);
      return;
    default:
      throw new Error(`unknown container action ${JSON.stringify(action)} (expected stop, start, pause, unpause or kill)`);
  }
}

/**
 * runc's cgroup v1 freezer gives up ("OCI runtime pause failed: unable to
 * freeze") when the container's processes keep forking or sit in the kernel
 * through all of its tries; it thaws them again before it says so, so trying
 * again is safe. Seen pausing a k3s agent on a loaded 2-core host.
 */
const FREEZE_FAILED = /unable to freeze/;
/** Waits between tries: ~6 s in all before the freezer's refusal is reported. */
export const FREEZE_RETRY_DELAYS_MS = [250, 500, 1_000, 1_500, 2_500];

/** Runs `attempt` again after each freezer refusal, up to the delays given; other errors end it at once. */
export async function retryFreeze(attempt: () => Promise<void>, delaysMs: readonly number[] = FREEZE_RETRY_DELAYS_MS): Promise<void> {
  for (let i = 0;; i++) {
    try {
      return await attempt();
    } catch (err) {
      const refused = err instanceof DockerError && FREEZE_FAILED.test(err.stderr);
      if (!refused) throw err;
      if (i >= delaysMs.length) {
        throw new DockerError(
          err.args,
          err.code,
          err.stderr,
          false,
          `${err.message.trimEnd()} — the kernel's cgroup freezer could not stop every process of the container in ${i + 1} tries ` +
            `(its processes kept forking or waiting in the kernel; a loaded host makes this likelier)`,
        );
      }
      await sleep(delaysMs[i]);
    }
  }
}
