// A container's run state as a test tool: stop, start, pause, unpause,
// kill (k3s node handles, lib/k3s/nodes.ts). One `docker` call each.

import { validateName } from "./args.ts";
import { docker } from "./cli.ts";
import { startContainer } from "./containers.ts";
import { FREEZER_REFUSAL, retryTransient } from "./transient.ts";

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
      await retryTransient(FREEZER_REFUSAL, () => docker(["pause", id]).then(() => undefined));
      return;
    case "start":
      await startContainer(id);
      return;
    case "unpause":
      await docker([action, id]);
      return;
    default:
      throw new Error(`unknown container action ${JSON.stringify(action)} (expected stop, start, pause, unpause or kill)`);
  }
}
