// While the start runs the services' hooks (helpers, setup, peers), a
// container that is paused or cut off from the environment's network leaves
// them waiting on requests that get no answer until their own deadlines (a
// rollout's 120 s), and then reports a timeout. This looks at the containers
// once a second and fails the start at once naming the fault, with the log
// tail; a daemon that stops answering is named too. An exit is the runner's
// `docker wait` business; readiness watches the same states before
// (readiness.ts).

import { DockerUnavailableError, inspectContainer } from "../docker.ts";
import { containerFault } from "./container-fault.ts";
import { ServiceNotReadyError } from "./readiness.ts";

/** How often the containers are looked at. */
export const HOOK_FAULT_CHECK_MS = 1_000;
/** Budget for the fault's description and log tail. */
const DESCRIBE_MS = 1_500;

export interface HookFaultWatch {
  /** Rejects with a ServiceNotReadyError naming the fault; never resolves. */
  fault: Promise<never>;
  stop(): void;
}

/** Watches `containers` (service key → container id); `phase()` names the start phase for the message. */
export function watchHookFaults(containers: Record<string, string>, network: string | undefined, phase: () => string): HookFaultWatch {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let reject!: (err: Error) => void;
  const fault = new Promise<never>((_, r) => (reject = r));
  fault.catch(() => {}); // nobody may be racing it when it fires

  let daemonGone = 0;
  const look = async () => {
    for (const [key, id] of Object.entries(containers)) {
      const info = await inspectContainer(id).catch((e) => e as Error);
      if (stopped) return;
      if (info instanceof DockerUnavailableError) {
        // Refused twice, a second apart: the daemon went away (stopped, restarted), which no hook can outwait.
        if (++daemonGone < 2) break;
        stopped = true;
        return reject(new ServiceNotReadyError(key, `service "${key}": the Docker daemon stopped answering during ${phase()} (${info.message.split("\n")[0]})`));
      }
      daemonGone = 0;
      if (info instanceof Error) continue; // gone or Docker slow: the exit watch and the hooks report
      const paused = info.state.status === "paused";
      const offNetwork = network !== undefined && info.state.running && !info.networks[network];
      if (!paused && !offNetwork) continue;
      const during = phase();
      const described = await containerFault(key, id, network, DESCRIBE_MS);
      if (stopped) return;
      const [first, ...rest] = (described ?? `service "${key}": the container ${id} is ${paused ? "paused (docker pause)" : "no longer on the environment's network"}`).split("\n");
      stopped = true;
      return reject(new ServiceNotReadyError(key, [`${first} during ${during} (after it was ready)`, ...rest].join("\n")));
    }
    if (!stopped) timer = setTimeout(look, HOOK_FAULT_CHECK_MS);
  };
  timer = setTimeout(look, HOOK_FAULT_CHECK_MS);
  return {
    fault,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
