// What is wrong with a service's container, asked when a request to it got
// no answer (HelperContext.fault): a request to a paused, exited or
// disconnected container fails with a timeout, ECONNREFUSED or ECONNRESET,
// none of which says why. Readiness watches the same states (readiness.ts).

import { DockerUnavailableError, inspectContainer } from "../docker.ts";
import { causeLine, logTailWithCause } from "./host-limits.ts";

const LOG_LINES = 20;
/** The log tail is worth waiting this long for, no more: the fault itself matters most. */
const LOG_WAIT_MS = 300;
/** How often the log is read again while the container still looks healthy. */
const LOG_REREAD_MS = 1_000;
/** Pause between looks at a container that seemed healthy. */
const RECHECK_MS = 150;

/** The fault in one line, or undefined when the container looks healthy (or Docker cannot tell). */
export async function containerState(container: string, network: string | undefined): Promise<string | undefined> {
  const info = await inspectContainer(container).catch((e) => e as Error);
  if (info instanceof DockerUnavailableError) return `the Docker daemon does not answer (${info.message.split("\n")[0]})`;
  if (info instanceof Error) {
    return /no such (container|object)/i.test(info.message) ? `the container ${container} was removed` : undefined;
  }
  container = info.name?.replace(/^\//, "") || container; // the name reads better than the id
  if (info.state.status === "paused") return `the container ${container} is paused (docker pause)`;
  if (!info.state.running) {
    return `the container ${container} exited with code ${info.state.exitCode}${info.state.oomKilled ? " (OOM-killed)" : ""}${info.state.error ? ` (${info.state.error})` : ""}`;
  }
  if (network && !info.networks[network]) return `the container ${container} is no longer on the environment's network ${network} (removed or disconnected)`;
  return undefined;
}

/** `service "<key>": <fault>` with the container's log tail, or undefined when nothing is wrong. */
export async function containerFault(
  service: string,
  container: string,
  network: string | undefined,
  withinMs = 600,
): Promise<string | undefined> {
  const t0 = Date.now();
  // The latest log read that has come back; the loop below never waits for one.
  let seen: { tail: string; cause?: string } | undefined;
  const readLogs = () => logTailWithCause(container, LOG_LINES).catch(() => ({ tail: "", cause: undefined })).then((l) => (seen = l));
  let logs = readLogs();
  let logsAt = t0;
  // A refused connection can come before Docker reports why: a killed container shows
  // "running" while its processes die, a disconnect unpublishes its ports first. Look
  // again until `withinMs` is nearly spent. The log is read again now and then: a node
  // whose kubelet hit a host limit logs why only as it shuts down, and a host limit in
  // the log ends the looking.
  let state = await containerState(container, network);
  while (!state && Date.now() - t0 + RECHECK_MS + 100 < withinMs) {
    await new Promise((r) => setTimeout(r, RECHECK_MS));
    state = await containerState(container, network);
    if (!state && seen?.cause) break;
    if (!state && seen && Date.now() - logsAt >= LOG_REREAD_MS) {
      seen = undefined;
      logs = readLogs();
      logsAt = Date.now();
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Within the caller's budget (FAULT_PROBE_MS): the fault itself must not be lost waiting for its logs.
  const late = new Promise<{ tail: string; cause?: string }>((r) => (timer = setTimeout(() => r({ tail: "" }), Math.max(50, Math.min(LOG_WAIT_MS, withinMs - (Date.now() - t0))))));
  const { tail, cause } = await Promise.race([logs, late]).finally(() => clearTimeout(timer));
  // Still running, but its log shows a host limit: the container is on its way out (a k3s
  // node stops its components for seconds after its kubelet failed), and that is the fault.
  if (!state && cause) state = `the container ${container} is running, but its log shows it ran into a limit of the Docker host`;
  if (!state) return undefined;
  return `service "${service}": ${state}${causeLine(cause)}${tail.trimEnd() ? `\nlast ${LOG_LINES} log lines of ${container}:\n${tail.trimEnd()}` : ""}`;
}
