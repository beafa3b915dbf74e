// Waiting for a container to exit: one long-lived `docker wait` per
// container, cancellable, so the runner notices a service that dies at once
// instead of at its next readiness try.

import { spawnProcess } from "../exec.ts";
import { validateName } from "./args.ts";
import { cliMissing, DAEMON_UNREACHABLE, daemonUnreachable, DOCKER_CLI, DockerError, type DockerOptions } from "./cli.ts";

/** Rejection reason of `WaitHandle.exited` after `cancel()`. */
export class WaitCancelledError extends Error {
  constructor(readonly container: string) {
    super(`waiting for container ${container} to exit was cancelled`);
    this.name = "WaitCancelledError";
  }
}

export interface WaitHandle {
  /** The container's exit code. Rejects with `WaitCancelledError` after `cancel()`, `DockerError` if Docker fails. */
  readonly exited: Promise<number>;
  /** Stops waiting and kills the `docker wait` process. Idempotent. */
  cancel(): void;
}

/**
 * Watches a container with one long-lived `docker wait`. Call it after
 * `startContainer`: on a created-but-never-started container `docker wait`
 * returns 0 at once. Always `cancel()` a handle you stop caring about; the
 * child otherwise keeps the process alive until the container exits.
 */
export function waitExit(container: string, opts: Pick<DockerOptions, "cli" | "env"> = {}): WaitHandle {
  const args = ["wait", validateName(container, "container")];
  let cancelled = false;
  const started = spawnProcess(opts.cli ?? DOCKER_CLI, args, { env: opts.env });
  const exited = started.then(
    async (child) => {
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      if (cancelled) throw new WaitCancelledError(container);
      if (code === 0 && /^-?\d+$/.test(stdout.trim())) return Number(stdout.trim());
      if (DAEMON_UNREACHABLE.test(stderr)) throw daemonUnreachable(stderr);
      throw new DockerError(args, code, stderr || `unexpected output ${JSON.stringify(stdout.trim())}`);
    },
    (e: Error) => {
      throw cancelled ? new WaitCancelledError(container) : cliMissing(e.message);
    },
  );
  exited.catch(() => {}); // a cancelled handle nobody awaits is not an unhandled rejection
  return {
    exited,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      started.then((child) => child.kill("SIGKILL"), () => {});
    },
  };
}
