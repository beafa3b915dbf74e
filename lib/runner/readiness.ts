// Waits until a started container passes its ready check. Polls fast (an exec
// try costs a `docker exec`; an HTTP try is a host-side request to the
// published port, which is much cheaper), fails at once if the container
// exits, and on the deadline reports the container's state and log tail.

import { execIn, inspectContainer, logsTail, type WaitHandle } from "../docker.ts";
import { nodeRequest } from "../node-request.ts";
import type { ReadyCheck } from "../service.ts";

/** Pause between tries; each exec try itself takes a `docker exec` round trip. */
export const READY_POLL_MS = { exec: 50, http: 25, probe: 25 } as const;
const LOG_LINES = 50;

export class ServiceNotReadyError extends Error {
  constructor(readonly service: string, message: string) {
    super(message);
    this.name = "ServiceNotReadyError";
  }
}

async function describeContainer(container: string): Promise<string> {
  const [state, logs] = await Promise.all([
    inspectContainer(container).then(
      (i) => `state=${i.state.status} exitCode=${i.state.exitCode}${i.state.error ? ` error=${i.state.error}` : ""}${i.state.oomKilled ? " (OOM-killed)" : ""}`,
      (e) => `state unknown (${(e as Error).message})`,
    ),
    logsTail(container, LOG_LINES).catch((e) => `(logs unavailable: ${(e as Error).message})`),
  ]);
  return `container ${container}: ${state}\nlast ${LOG_LINES} log lines:\n${logs.trimEnd() || "(no output)"}`;
}

/** One try of the check: true when ready. Never throws for "not yet". */
function tryOnce(container: string, check: ReadyCheck, hostPort: (p: number) => number): Promise<boolean> {
  if (check.type === "exec") {
    return execIn(container, ["/bin/sh", "-c", check.command], { timeoutMs: 10_000 }).then((r) => r.code === 0, () => false);
  }
  const url = `${check.scheme ?? "http"}://127.0.0.1:${hostPort(check.port)}${check.path ?? "/"}`;
  return nodeRequest(url, { signal: AbortSignal.timeout(5_000) }, { ca: check.ca, servername: "localhost" }).then(
    (res) => (check.status !== undefined ? res.status === check.status : res.status >= 200 && res.status < 300),
    () => false,
  );
}

/**
 * Resolves once `check` passes. Rejects when the container exits first
 * (immediately, with its logs) or when `check.timeoutSecs` elapse.
 */
export async function waitReady(opts: {
  service: string;
  container: string;
  check: ReadyCheck;
  hostPort: (containerPort: number) => number;
  exit: WaitHandle;
  progress: (m: string) => void;
  /** The definition's host-side probe, preferred over `check` when it can tell. */
  probe?: () => Promise<boolean | undefined>;
  /** Stop waiting (the environment is being torn down). */
  signal?: AbortSignal;
}): Promise<void> {
  const { service, container, check } = opts;
  const started = Date.now();
  const deadline = started + check.timeoutSecs * 1000;
  let exited: number | undefined;
  opts.exit.exited.then((code) => (exited = code), () => {});
  let lastReport = started;

  while (true) {
    opts.signal?.throwIfAborted();
    if (exited !== undefined) {
      throw new ServiceNotReadyError(service, `service "${service}" exited with code ${exited} before it was ready\n${await describeContainer(container)}`);
    }
    const probed = opts.probe ? await opts.probe().catch(() => undefined) : undefined;
    if (probed ?? await tryOnce(container, check, opts.hostPort)) {
      if (exited === undefined) return;
      continue; // it answered, then died: report the exit
    }
    const now = Date.now();
    if (now >= deadline) {
      const what = check.type === "exec" ? `\`${check.command}\`` : `GET ${check.path ?? "/"} on port ${check.port}`;
      throw new ServiceNotReadyError(
        service,
        `service "${service}" was not ready within ${check.timeoutSecs}s (ready check ${what} never passed)\n${await describeContainer(container)}`,
      );
    }
    if (now - lastReport >= 5_000) {
      lastReport = now;
      opts.progress(`waiting for ${service} to be ready (${Math.round((now - started) / 1000)}s of ${check.timeoutSecs}s)`);
    }
    // Wake early if the container exits during the pause.
    const pause = probed === undefined ? READY_POLL_MS[check.type] : READY_POLL_MS.probe;
    await Promise.race([new Promise((r) => setTimeout(r, pause)), opts.exit.exited.catch(() => {})]);
  }
}
