// Waits until a started container passes its ready check. Polls fast (an exec
// try costs a `docker exec`; an HTTP try is a host-side request to the
// published port, which is much cheaper), fails at once if the container
// exits, and on the deadline reports the container's state and log tail.

import { execIn, inspectContainer, type WaitHandle } from "../docker.ts";
import { causeLine, logTailWithCause } from "./host-limits.ts";
import { nodeRequest } from "../node-request.ts";
import { hostPortOf, type ReadyCheck } from "../service.ts";
import { sleep } from "../sleep.ts";

/** Pause between tries; each exec try itself takes a `docker exec` round trip. */
export const READY_POLL_MS = { exec: 50, http: 25, probe: 25 } as const;
const LOG_LINES = 50;

/**
 * A service did not become ready (its ready check did not pass by its
 * deadline, or its container exited); the message says what it saw last and
 * carries the container's state and log tail.
 *
 * @example
 * ```ts
 * import { ServiceNotReadyError, startEnvironment } from "k3sbox";
 *
 * try {
 *   await using env = await startEnvironment({
 *     services: {
 *       web: {
 *         image: { type: "registry", reference: "nginx:1.27" },
 *         ports: [80],
 *         readyCheck: { type: "http", port: 80, path: "/healthz", timeoutSecs: 30 },
 *       },
 *     },
 *   });
 * } catch (err) {
 *   if (!(err instanceof ServiceNotReadyError)) throw err;
 *   console.error(`${err.service} never answered: ${err.message}`);
 * }
 * ```
 */
export class ServiceNotReadyError extends Error {
  constructor(
    readonly service: string,
    message: string,
    /** How long the wait ran, reporting included (readiness waits only). */
    readonly waitedMs?: number,
  ) {
    super(message);
    this.name = "ServiceNotReadyError";
  }
}

/** State and log tail of a container, for error messages; gives up after `withinMs` rather than delay the error. */
export async function describeContainer(container: string, withinMs = 900): Promise<string> {
  const described = Promise.all([
    inspectContainer(container).then(
      (i) => `state=${i.state.status} exitCode=${i.state.exitCode}${i.state.error ? ` error=${i.state.error}` : ""}${i.state.oomKilled ? " (OOM-killed)" : ""}`,
      (e) => `state unknown (${(e as Error).message})`,
    ),
    logTailWithCause(container, LOG_LINES).catch((e) => ({ tail: `(logs unavailable: ${(e as Error).message})`, cause: undefined })),
  ]).then(([state, logs]) => `container ${container}: ${state}${causeLine(logs.cause)}\nlast ${LOG_LINES} log lines:\n${logs.tail.trimEnd() || "(no output)"}`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r(`container ${container}: (Docker did not describe it within ${withinMs} ms)`), withinMs)));
  try {
    return await Promise.race([described, late]);
  } finally {
    clearTimeout(timer);
  }
}

const MIN_TRY_MS = 100;
/** A readyProbe try that has not settled by then is abandoned (its signal aborts) and the check is tried instead. */
export const PROBE_TRY_MS = 5_000;
const PROBE_HUNG = Symbol("probe hung");

/** One probe try: its answer, undefined if it threw, PROBE_HUNG if it did not settle in time. */
async function probeOnce(probe: (signal: AbortSignal) => Promise<boolean | undefined>, deadline: number): Promise<boolean | undefined | typeof PROBE_HUNG> {
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<typeof PROBE_HUNG>((r) => (timer = setTimeout(() => r(PROBE_HUNG), Math.max(0, Math.min(PROBE_TRY_MS, deadline - Date.now())))));
  try {
    // Promise.resolve().then: a probe that throws synchronously is a failed try, not a failed start.
    return await Promise.race([Promise.resolve().then(() => probe(ctl.signal)).catch(() => undefined), hung]);
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}

/** One try of the check, ending by `deadline`: ok, or what it saw instead. Never throws for "not yet". */
async function tryOnce(container: string, check: ReadyCheck, hostPort: (p: number) => number, deadline: number, host = "127.0.0.1"): Promise<{ ok: boolean; saw: string }> {
  if (check.type === "exec") {
    // The docker CLI is killed at the deadline; the container goes with the failed start.
    const timeoutMs = Math.max(MIN_TRY_MS, Math.min(10_000, deadline - Date.now()));
    return await execIn(container, ["/bin/sh", "-c", check.command], { timeoutMs }).then(
      (r) => ({ ok: r.code === 0, saw: `exit code ${r.code}${(r.stderr || r.stdout).trim() ? `: ${(r.stderr || r.stdout).trim().slice(-300)}` : ""}` }),
      (e) => ({ ok: false, saw: (e as Error).message }),
    );
  }
  const url = `${check.scheme ?? "http"}://${hostPortOf(host, hostPort(check.port))}${check.path ?? "/"}`;
  const timeoutMs = Math.max(MIN_TRY_MS, Math.min(5_000, deadline - Date.now()));
  return await nodeRequest(url, { signal: AbortSignal.timeout(timeoutMs) }, { ca: check.ca, servername: "localhost" }).then(
    (res) => ({ ok: check.status !== undefined ? res.status === check.status : res.status >= 200 && res.status < 300, saw: `HTTP ${res.status}` }),
    (e) => ({ ok: false, saw: (e as Error).message }),
  );
}

/**
 * Watches the container once a second while readiness is awaited, and
 * resolves with a specific explanation when it can no longer become ready:
 * paused, removed, or cut off from the environment's network.
 */
function watchState(service: string, container: string, network: string | undefined): { problem: Promise<string>; stop(): void } {
  let stopped = false;
  const problem = (async () => {
    while (!stopped) {
      await sleep(1_000);
      if (stopped) break;
      const info = await inspectContainer(container).catch((e) => e as Error);
      if (info instanceof Error) {
        if (/no such (container|object)/i.test(info.message)) return `service "${service}": its container ${container} was removed while waiting for readiness`;
        continue;
      }
      if (info.state.status === "paused") return `service "${service}": its container ${container} was paused (docker pause) while waiting for readiness`;
      if (network && info.state.running && !info.networks[network]) {
        return `service "${service}": its container ${container} is no longer on the environment's network ${network} (removed or disconnected) while waiting for readiness`;
      }
    }
    return new Promise<string>(() => {});
  })();
  return { problem, stop: () => void (stopped = true) };
}

/**
 * Resolves once `check` passes. Rejects when the container exits first
 * (immediately, with its logs), is paused, removed or cut off from its
 * network (within about a second), or when `check.timeoutSecs` elapse (with
 * what the last try saw).
 */
export async function waitReady(opts: {
  service: string;
  container: string;
  check: ReadyCheck;
  hostPort: (containerPort: number) => number;
  /** Where this process connects (docker/topology.ts); default 127.0.0.1. */
  host?: string;
  exit: WaitHandle;
  progress: (m: string) => void;
  /** The environment's network: leaving it is reported at once. */
  network?: string;
  /** The definition's host-side probe, preferred over `check` when it can tell; its signal aborts when the try is over. */
  probe?: (signal: AbortSignal) => Promise<boolean | undefined>;
  /** Stop waiting (the environment is being torn down). */
  signal?: AbortSignal;
}): Promise<void> {
  const { service, container, check } = opts;
  const started = Date.now();
  const deadline = started + check.timeoutSecs * 1000;
  let exited: number | undefined;
  opts.exit.exited.then((code) => (exited = code), () => {});
  const exitedNow = opts.exit.exited.then(() => undefined, () => new Promise<undefined>(() => {}));
  let problem: string | undefined;
  const state = watchState(service, container, opts.network);
  state.problem.then((p) => (problem = p));
  /** `p`, unless the deadline passes, the container exits or a state problem shows first. */
  const bounded = <T>(p: Promise<T>, fallback: T): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<T>((r) => (timer = setTimeout(() => r(fallback), Math.max(0, deadline - Date.now()))));
    return Promise.race([p, late, exitedNow.then(() => fallback), state.problem.then(() => fallback)]).finally(() => clearTimeout(timer));
  };
  let lastReport = started;
  let saw = "nothing yet";

  try {
    while (true) {
      opts.signal?.throwIfAborted();
      if (exited !== undefined) {
        const text = `service "${service}" exited with code ${exited} before it was ready\n${await describeContainer(container)}`;
        throw new ServiceNotReadyError(service, text, Date.now() - started);
      }
      if (problem) throw new ServiceNotReadyError(service, `${problem}\n${await describeContainer(container)}`, Date.now() - started);
      const tried = opts.probe ? await bounded(probeOnce(opts.probe, deadline), PROBE_HUNG) : undefined;
      const probed = tried === PROBE_HUNG ? undefined : tried;
      const late = Date.now() >= deadline;
      if (tried === PROBE_HUNG) saw = late ? "the service's readyProbe had not settled at the deadline" : `the service's readyProbe did not settle within ${PROBE_TRY_MS / 1000} s`;
      let ok = probed === true;
      if (tried === PROBE_HUNG && late) {
        // The probe used up the time: no try of the check, which could only be cut off at once.
      } else if (probed === undefined) {
        const unfinished = check.type === "exec" ? "the command was still running at the deadline" : "no answer by the deadline";
        const r = await bounded(tryOnce(container, check, opts.hostPort, deadline, opts.host), { ok: false, saw: saw === "nothing yet" ? unfinished : `${unfinished}; the try before: ${saw}` });
        ok = r.ok;
        saw = r.saw;
      } else if (!probed) saw = "the service's own probe said not ready";
      if (ok) {
        if (exited === undefined) return;
        continue; // it answered, then died: report the exit
      }
      if (exited !== undefined || problem) continue;
      const now = Date.now();
      if (now >= deadline) {
        const what = check.type === "exec" ? `\`${check.command}\`` : `GET ${check.path ?? "/"} on port ${check.port}`;
        // A host-side check that never connected says so: that is an address problem, not a slow service.
        const unreachable = check.type === "http" && /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|ETIMEDOUT/.test(saw);
        const text = unreachable
          ? `service "${service}": this process cannot reach ${opts.host ?? "127.0.0.1"}:${opts.hostPort(check.port)} (its port ${check.port}) within ${check.timeoutSecs}s (ready check ${what}; last try: ${saw}); check the address (K3SBOX_HOST, env.topology)\n${await describeContainer(container)}`
          : `service "${service}" was not ready within ${check.timeoutSecs}s (ready check ${what} never passed; last try: ${saw})\n${await describeContainer(container)}`;
        throw new ServiceNotReadyError(service, text, Date.now() - started);
      }
      if (now - lastReport >= 5_000) {
        lastReport = now;
        opts.progress(`waiting for ${service} to be ready (${Math.round((now - started) / 1000)}s of ${check.timeoutSecs}s)`);
      }
      // Wake early if the container exits during the pause.
      const pause = probed === undefined ? READY_POLL_MS[check.type] : READY_POLL_MS.probe;
      await bounded(sleep(pause), undefined);
    }
  } finally {
    state.stop();
  }
}
