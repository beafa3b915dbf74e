// Refusals of the engine that pass: a `docker` call that a loaded host made
// fail in a way that leaves nothing changed, so the same call may be made
// again. Each kind names its pattern (in Docker's stderr), how long to keep
// trying, and what to say when the tries run out.

import { sleep } from "../sleep.ts";
import { DockerError } from "./cli.ts";

export interface TransientRefusal {
  /** Matched against the failed call's stderr. */
  pattern: RegExp;
  /** Waits between tries; their count is how many more tries are made. */
  delaysMs: readonly number[];
  /** Appended to the last error's message, after "in N tries". */
  explanation: string;
  /** Said before "in N tries", e.g. "the kernel's cgroup freezer could not stop every process of the container". */
  what: string;
}

/**
 * runc's cgroup v1 freezer gives up ("OCI runtime pause failed: unable to
 * freeze") when the container's processes keep forking or sit in the kernel
 * through all of its tries; it thaws them again before it says so. Seen
 * pausing a k3s agent on a loaded 2-core host. ~6 s in all.
 */
export const FREEZER_REFUSAL: TransientRefusal = {
  pattern: /unable to freeze/,
  delaysMs: [250, 500, 1_000, 1_500, 2_500],
  what: "the kernel's cgroup freezer could not stop every process of the container",
  explanation: "its processes kept forking or waiting in the kernel; a loaded host makes this likelier",
};

/**
 * containerd's shim did not open the new task's stdio pipes within its own
 * deadline ("failed to create shim task … opening w/o fifo … context
 * deadline exceeded"): the container stays created, not started. Seen in a
 * full test run on a loaded 2-core host. ~3 s in all.
 */
export const SHIM_START_REFUSAL: TransientRefusal = {
  pattern: /failed to create shim task[\s\S]*context deadline exceeded/,
  delaysMs: [250, 1_000, 2_000],
  what: "containerd's shim could not set up the container's process",
  explanation: "it ran out of its own deadline; a loaded host makes this likelier",
};

/** Runs `attempt` again after each refusal of `kind`, up to its delays; other errors end it at once. */
export async function retryTransient(kind: TransientRefusal, attempt: () => Promise<void>, delaysMs = kind.delaysMs): Promise<void> {
  for (let i = 0;; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof DockerError && kind.pattern.test(err.stderr))) throw err;
      if (i >= delaysMs.length) {
        throw new DockerError(err.args, err.code, err.stderr, false, `${err.message.trimEnd()} — ${kind.what} in ${i + 1} tries (${kind.explanation})`);
      }
      await sleep(delaysMs[i]);
    }
  }
}
