// Streaming watch over the same mTLS transport. client-node's own Watch class
// uses its HTTP stack (which does not present client certificates under Bun
// or Deno), and the generated `list…({ watch: true })` methods buffer the
// whole stream, so watches get this small reader of newline-delimited JSON.
//
// One watch, like client-go's `Watch()` or `kubectl get -w`: it does not
// re-list or re-watch (an informer's job). It ends when the server ends the
// stream (at `timeoutSeconds`), when `onEvent` returns false, when the
// caller's signal aborts, or with an error — never by hanging:
//
// - Idle: a quiet collection sends nothing for minutes on a healthy server,
//   so silence alone proves nothing. After `idleTimeoutMs` without a byte the
//   watch asks the API server something cheap (GET /version), as client-go's
//   HTTP/2 health check pings a silent connection; an answer means the
//   watch is merely quiet and it goes on; no answer within
//   WATCH_LIVENESS_TIMEOUT_MS ends it with a WatchStalledError naming the
//   path, how long it was silent and what is wrong with the container (paused,
//   exited) where the helpers know.
// - Its own deadline: the server promises to end the stream `timeoutSeconds`
//   after it answered the watch; one it does not end by then (+
//   WATCH_END_GRACE_MS) ends with a WatchStalledError too, within a second
//   of that deadline.

import type { Recorder } from "../recorder.ts";
import { checkTimeoutMs, checkTimeoutSecs } from "../limits.ts";
import { describeKubeRequest } from "./describe.ts";
import { type FaultProbe, FAULT_PROBE_REFUSED_MS, KubeTransportError, probeFault } from "./http-library.ts";
import { currentRequestSignal } from "./request-scope.ts";
import type { Transport } from "./transport.ts";

/**
 * One event of a watch: what happened to which object.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, type WatchEvent } from "k3sbox";
 *
 * type Pod = { metadata: { name: string } };
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const seen: WatchEvent<Pod>[] = [];
 * await env.svc.k8s.client.watch<Pod>("/api/v1/namespaces/kube-system/pods", (e) => void seen.push(e), { timeoutSeconds: 5 });
 * console.log(seen.map((e) => `${e.type} ${e.object.metadata.name}`));
 * ```
 */
export interface WatchEvent<T = Record<string, unknown>> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/**
 * @example
 * ```ts
 * import { k3s, startEnvironment, type WatchOptions } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const stop = new AbortController();
 * const opts: WatchOptions = { query: { labelSelector: "app=web" }, timeoutSeconds: 120, idleTimeoutMs: 10_000, signal: stop.signal };
 * setTimeout(() => stop.abort(), 5_000);
 * await env.svc.k8s.client.watch("/api/v1/namespaces/default/pods", (e) => console.log(e.type), opts);
 * ```
 */
export interface WatchOptions {
  /** Query parameters such as labelSelector, fieldSelector, resourceVersion. */
  query?: Record<string, string>;
  /**
   * Server-side end of the watch. Default 60 s. A server that does not end
   * the stream by then (frozen, say) fails the watch within a second of it.
   */
  timeoutSeconds?: number;
  /**
   * How long the stream may stay silent before the watch checks the API
   * server still answers (GET /version). Default WATCH_IDLE_TIMEOUT_MS (30 s,
   * client-go's idle time before it pings a connection). A quiet watch on a
   * live server goes on; on a frozen one it ends with a WatchStalledError
   * after this plus the liveness check's wait (this, kept within 2–5 s).
   */
  idleTimeoutMs?: number;
  /** Ends the watch: it resolves (no error), as a cancelled client-go watch closes its channel. An already-aborted signal sends nothing. */
  signal?: AbortSignal;
}

/** Default `idleTimeoutMs`. */
export const WATCH_IDLE_TIMEOUT_MS = 30_000;
/** How long the liveness check of a silent watch waits for the API server's answer: `idleTimeoutMs`, kept within 2–5 s. */
export const WATCH_LIVENESS_TIMEOUT_MS = 5_000;
/** A fresh TLS connection to a loaded API server can take a second: a shorter liveness check would call a live server frozen. */
export const WATCH_LIVENESS_MIN_MS = 2_000;
/** How long after `timeoutSeconds` the watch waits for the server to end the stream itself. */
export const WATCH_END_GRACE_MS = 500;
/** Budget for asking Docker what is wrong when the watch stalls (with the grace, keeps the 1 s promise at `timeoutSeconds`). */
const STALL_PROBE_MS = 400;

/**
 * A watch the API server stopped serving: silent and unanswering, or not ended at its `timeoutSeconds`.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, WatchStalledError } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.client.watch("/api/v1/pods", () => true, { timeoutSeconds: 60, idleTimeoutMs: 5_000 });
 * } catch (err) {
 *   if (!(err instanceof WatchStalledError)) throw err;
 *   console.error(err.path, err.silentMs, err.fault); // e.g. the API server's container was paused
 * }
 * ```
 */
export class WatchStalledError extends Error {
  constructor(
    readonly path: string,
    /** How long the stream had sent nothing, in ms. */
    readonly silentMs: number,
    detail: string,
    /** What is wrong with the API server's container, when the helpers know (paused, exited, …). */
    readonly fault?: string,
  ) {
    super(`watch ${path}: ${detail}; nothing arrived for ${(silentMs / 1000).toFixed(1)} s${fault ? `: ${fault}` : ""}`);
    this.name = "WatchStalledError";
  }
}

export interface WatchContext {
  transport: Transport;
  recorder: Recorder;
  server: string;
  /** What is wrong with the API server's container (HelperContext.fault). */
  fault?: FaultProbe;
}

/** What ended the wait on the stream: the caller (resolve quietly) or a failure (reject). */
type Stop = { kind: "caller" } | { kind: "error"; error: unknown };

/**
 * Watches a collection path (e.g. `/api/v1/namespaces/default/pods`) and
 * calls `onEvent` for each event until the server ends the stream, the
 * signal aborts, or `onEvent` returns `false`. See the module comment for
 * how a silent or frozen server ends it.
 */
export async function watchPath<T = Record<string, unknown>>(
  ctx: WatchContext,
  path: string,
  onEvent: (event: WatchEvent<T>) => boolean | void,
  opts: WatchOptions = {},
): Promise<void> {
  const timeoutSeconds = opts.timeoutSeconds === undefined ? 60 : checkTimeoutSecs(opts.timeoutSeconds, 'watch(): option "timeoutSeconds"', 60);
  const idleMs = opts.idleTimeoutMs === undefined ? WATCH_IDLE_TIMEOUT_MS : checkTimeoutMs(opts.idleTimeoutMs, 'watch(): option "idleTimeoutMs"', 30_000);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw new TypeError('watch(): option "signal" must be an AbortSignal');
  if (opts.signal?.aborted) return;
  const scope = currentRequestSignal(); // an enclosing operation's deadline: its end is an error
  if (scope?.aborted) throw scope.reason;

  const { transport, recorder, server } = ctx;
  const params = new URLSearchParams({ ...opts.query, watch: "true", timeoutSeconds: String(timeoutSeconds) });
  const base = server.replace(/\/$/, "");
  const url = `${base}${path}?${params}`;
  const seq = recorder.begin("GET", url);
  const meta = describeKubeRequest("GET", url);
  if (meta) recorder.annotate(seq, { kind: "kube", ...meta });

  const request = new AbortController();
  let lastByte = Date.now();
  let finish!: (stop: Stop) => void;
  const stopped = new Promise<Stop>((r) => (finish = r));
  let done = false;
  const stop = (s: Stop) => {
    if (done) return;
    done = true;
    finish(s);
  };
  const stall = async (detail: string) => {
    if (done) return;
    const silentMs = Date.now() - lastByte;
    const fault = await probeFault(ctx.fault, STALL_PROBE_MS);
    stop({ kind: "error", error: new WatchStalledError(path, silentMs, detail, fault) });
  };

  const onCaller = () => stop({ kind: "caller" });
  const onScope = () => stop({ kind: "error", error: scope!.reason });
  opts.signal?.addEventListener("abort", onCaller, { once: true });
  scope?.addEventListener("abort", onScope, { once: true });
  // Counted from the request, then again from the answer: the server starts its
  // clock when it serves the watch, which a loaded machine may do late.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const armDeadline = () => {
    clearTimeout(deadline);
    deadline = setTimeout(
      () => void stall(`the API server did not end the watch at its timeoutSeconds (${timeoutSeconds} s)`),
      timeoutSeconds * 1000 + WATCH_END_GRACE_MS,
    );
  };
  armDeadline();
  let idle: ReturnType<typeof setTimeout> | undefined;
  const livenessMs = Math.min(WATCH_LIVENESS_TIMEOUT_MS, Math.max(WATCH_LIVENESS_MIN_MS, idleMs));
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(async () => {
      if (done) return;
      if (Date.now() - lastByte < idleMs) return armIdle(); // bytes arrived since it was set: silent for less than idleMs
      if (await answers(transport, `${base}/version`, livenessMs, request.signal)) return armIdle(); // quiet, not frozen
      if (Date.now() - lastByte < idleMs) return armIdle(); // bytes arrived meanwhile
      await stall(`no event or byte for ${idleMs / 1000} s and the API server did not answer a liveness check (GET /version) within ${livenessMs / 1000} s`);
    }, Math.max(0, lastByte + idleMs - Date.now()));
  };
  armIdle();

  /** `p`, unless the watch was stopped first. */
  const orStop = <V>(p: Promise<V>): Promise<{ value: V } | Stop> => {
    p.catch(() => {}); // an abandoned read may reject later
    return Promise.race([p.then((value) => ({ value })), stopped]);
  };
  const failed = async (err: unknown): Promise<never> => {
    throw new KubeTransportError("GET", url, err, await probeFault(ctx.fault, FAULT_PROBE_REFUSED_MS));
  };

  let reader: ReadableStreamDefaultReader<string> | undefined;
  try {
    let got: { value: Response } | Stop;
    try {
      got = await orStop(transport.fetch(url, { method: "GET", signal: request.signal, headers: { accept: "application/json" } }));
    } catch (err) {
      recorder.end(seq, { error: (err as Error)?.message ?? String(err) });
      return await failed(err);
    }
    if (!("value" in got)) {
      recorder.end(seq, { error: got.kind === "caller" ? "ended by the caller's signal" : String((got.error as Error)?.message ?? got.error) });
      if (got.kind === "error") throw got.error;
      return;
    }
    const res = got.value;
    lastByte = Date.now();
    armDeadline();
    recorder.end(seq, { status: res.status });
    if (!res.ok || !res.body) {
      const body = await orStop(res.text());
      throw new Error(`watch ${path}: ${res.status} ${"value" in body ? body.value : ""}`);
    }

    reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    while (true) {
      let read: { value: ReadableStreamReadResult<string> } | Stop;
      try {
        read = await orStop(reader.read());
      } catch (err) {
        if (done) break;
        return await failed(err); // reset mid-stream: a killed node, a lost network
      }
      if (!("value" in read)) {
        if (read.kind === "error") throw read.error;
        return;
      }
      const { value, done: ended } = read.value;
      if (ended) return;
      lastByte = Date.now();
      buffered += value;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line && onEvent(JSON.parse(line) as WatchEvent<T>) === false) return;
      }
    }
    const end = await stopped;
    if (end.kind === "error") throw end.error;
  } finally {
    done = true;
    clearTimeout(deadline);
    clearTimeout(idle);
    opts.signal?.removeEventListener("abort", onCaller);
    scope?.removeEventListener("abort", onScope);
    request.abort();
    // Not awaited: on a frozen server the cancel itself may never settle.
    reader?.cancel().catch(() => {});
  }
}

/** The API server answers `url` (any status) within `ms`; given up when `ended` aborts (the watch is over). */
async function answers(transport: Transport, url: string, ms: number, ended: AbortSignal): Promise<boolean> {
  const ctl = new AbortController();
  const onEnded = () => ctl.abort();
  ended.addEventListener("abort", onEnded, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => (ctl.abort(), r(false)), ms)));
  try {
    const ok = transport.fetch(url, { method: "GET", signal: ctl.signal, headers: { accept: "application/json" } }).then(async (res) => {
      await res.arrayBuffer().catch(() => {});
      return true;
    }, () => false);
    return await Promise.race([ok, late]);
  } finally {
    clearTimeout(timer);
    ended.removeEventListener("abort", onEnded);
    ctl.abort();
  }
}
