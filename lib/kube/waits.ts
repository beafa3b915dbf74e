// Waits that mean what they say: `rollout(kind/name)` (generation-aware, as
// `kubectl rollout status`) and `waitFor(object, condition | predicate)`.
// Each polls with a deadline it keeps; a timeout (or a rollout that can never
// finish) throws a WaitError with the last state seen and diagnostics of the
// pods involved (phases, waiting messages, warning events, log tails).

import type { KubernetesObject, KubernetesObjectApi } from "../../deps.ts";
import type { Wrapped } from "../provenance.ts";
import { KubeApiError } from "./errors.ts";
import { resolveResource } from "./kinds.ts";
import { parseRolloutTarget, type RolloutKind, rolloutState } from "./rollout-status.ts";
import type { Tagged } from "./tagging.ts";
import type { KubeObject } from "./manifest.ts";
import type { DiagnosticsOptions } from "./diagnostics.ts";
import { checkTimeoutMs } from "../limits.ts";
import { abortable, deadlineSignal, withRequestSignal } from "./request-scope.ts";
import { FAULT_PROBE_MS, KubeTransportError } from "./http-library.ts";

export const DEFAULT_WAIT_TIMEOUT_MS = 120_000;
export const WAIT_POLL_MS = 250;
const PROGRESS_EVERY_MS = 5_000;

/**
 * How long and where `rollout()` and `waitFor()` wait.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, type WaitOptions } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const opts: WaitOptions = { namespace: "kube-system", timeoutMs: 60_000, progress: (m) => console.error(m) };
 * await env.svc.k8s.rollout("deployment/coredns", opts);
 * ```
 */
export interface WaitOptions {
  /** Namespace when the target does not name one. Default "default". */
  namespace?: string;
  /** Deadline. Default 120 s. */
  timeoutMs?: number;
  /** Gives up (rejects with the signal's reason) when aborted. */
  signal?: AbortSignal;
  /** Told what is still missing about every 5 s. */
  progress?: (message: string) => void;
}

/**
 * A wait that timed out or can never succeed; `lastSeen` is the last state observed.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, WaitError } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.waitFor("pod/web-0", "Ready", { timeoutMs: 5_000 });
 * } catch (err) {
 *   if (!(err instanceof WaitError)) throw err;
 *   console.error(err.timedOut, err.lastSeen); // the last state seen; err.diagnostics has pods, events, log tails
 * }
 * ```
 */
export class WaitError extends Error {
  constructor(message: string, readonly lastSeen: string, readonly diagnostics: string, readonly timedOut: boolean) {
    super(`${message}\n${diagnostics}`);
    this.name = "WaitError";
  }
}

export interface WaitDeps {
  objects: Tagged<KubernetesObjectApi>;
  diagnostics(namespace: string, opts: DiagnosticsOptions): Promise<string>;
}

/** A condition by type ("Ready", "Available", "Complete"), optionally with the status wanted ("Ready=False"). */
export type ConditionName = string;
/**
 * A test of an object's current state, for `waitFor()`.
 *
 * @example
 * ```ts
 * import { k3s, type Predicate, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const hasColor: Predicate<{ data?: Record<string, string> }> = (cm) => cm.data?.color !== undefined;
 * await env.svc.k8s.waitFor("configmap/settings", hasColor, { timeoutMs: 30_000 });
 * ```
 */
export type Predicate<T> = (object: T) => boolean;

interface Ref {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

// "kind/name" shorthands for waitFor, as kubectl spells them.
const SHORT_KINDS: Record<string, [string, string]> = {
  pod: ["v1", "Pod"],
  po: ["v1", "Pod"],
  node: ["v1", "Node"],
  no: ["v1", "Node"],
  namespace: ["v1", "Namespace"],
  ns: ["v1", "Namespace"],
  service: ["v1", "Service"],
  svc: ["v1", "Service"],
  persistentvolumeclaim: ["v1", "PersistentVolumeClaim"],
  pvc: ["v1", "PersistentVolumeClaim"],
  deployment: ["apps/v1", "Deployment"],
  deploy: ["apps/v1", "Deployment"],
  statefulset: ["apps/v1", "StatefulSet"],
  sts: ["apps/v1", "StatefulSet"],
  daemonset: ["apps/v1", "DaemonSet"],
  ds: ["apps/v1", "DaemonSet"],
  replicaset: ["apps/v1", "ReplicaSet"],
  rs: ["apps/v1", "ReplicaSet"],
  job: ["batch/v1", "Job"],
  customresourcedefinition: ["apiextensions.k8s.io/v1", "CustomResourceDefinition"],
  crd: ["apiextensions.k8s.io/v1", "CustomResourceDefinition"],
};

/** "pod/web-0", "job/migrate", or an object (e.g. what apply returned). */
export function parseWaitTarget(target: unknown, defaultNamespace?: string): Ref {
  if (typeof target === "string") {
    const m = /^([a-z]+)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(target);
    const kind = m ? SHORT_KINDS[m[1].replace(/s$/, "")] ?? SHORT_KINDS[m[1]] : undefined;
    if (!m || !kind) {
      throw new TypeError(
        `waitFor(): target must be an object with apiVersion, kind and metadata.name, or "<kind>/<name>" with kind one of ${
          Object.keys(SHORT_KINDS).join(", ")
        }; got ${JSON.stringify(target)}`,
      );
    }
    return { apiVersion: kind[0], kind: kind[1], name: m[2], namespace: defaultNamespace };
  }
  const o = target as Partial<KubernetesObject> | undefined;
  if (!o || typeof o !== "object" || !o.apiVersion || !o.kind || !o.metadata?.name) {
    throw new TypeError(`waitFor(): target must be an object with apiVersion, kind and metadata.name, or "<kind>/<name>"; got ${JSON.stringify(target)}`);
  }
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace ?? defaultNamespace };
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}
const conditionsOf = (o: unknown) => ((o as { status?: { conditions?: Condition[] } })?.status?.conditions ?? []);

/** "Ready=True (PodCompleted)", "no conditions yet". */
export function summarizeConditions(o: unknown): string {
  const cs = conditionsOf(o);
  if (cs.length === 0) return "no status conditions yet";
  return cs.map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ""})` : ""}`).join(", ");
}

/** "Ready" → type Ready, status True; "Ready=False" → status False. */
export function parseCondition(condition: string): { type: string; status: string } {
  const m = typeof condition === "string" ? /^([A-Za-z][A-Za-z0-9_.-]*)(?:=(True|False|Unknown))?$/i.exec(condition) : null;
  if (!m) {
    throw new TypeError(
      `waitFor(): condition must be a condition type such as "Ready", "Available" or "Complete" (optionally "=True"/"=False"), or a function (object) => boolean; got ${
        JSON.stringify(condition)
      }`,
    );
  }
  const status = (m[2] ?? "True").toLowerCase();
  return { type: m[1], status: status[0].toUpperCase() + status.slice(1) };
}

/** Condition types that end a Job for good: waiting for "Complete" stops when the Job has Failed. */
function terminalFailure(o: unknown, wantedType: string): Condition | undefined {
  if (wantedType === "Failed") return undefined;
  return conditionsOf(o).find((c) => c.type === "Failed" && c.status === "True");
}

/** Pods of a target, for diagnostics: its selector, or the pod itself. */
function podFilter(kind: string, o: unknown, name: string): DiagnosticsOptions {
  if (kind === "Pod") return { fieldSelector: `metadata.name=${name}` };
  const labels = (o as { spec?: { selector?: { matchLabels?: Record<string, string> } } })?.spec?.selector?.matchLabels;
  if (labels && Object.keys(labels).length > 0) return { labelSelector: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",") };
  return {};
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * After a deadline, reporting (fault probe, diagnostics) gets this long, so a
 * wait whose API server does not answer (frozen, gone, slower than the
 * deadline) ends within a second of it.
 */
const REPORT_BUDGET_MS = 600; // leaves room for timers that fire late on a busy machine
/**
 * When the API server was answering the wait's reads (it is only busy, e.g. a
 * loaded machine), diagnostics — the part of the report that explains the
 * failure — get up to this long after the deadline instead.
 */
const ANSWERING_REPORT_BUDGET_MS = 5_000;

/** The wait's deadline, checked (finite, positive, within what setTimeout holds). */
function waitDeadline(what: string, opts: WaitOptions): { started: number; deadline: number; timeoutMs: number } {
  const timeoutMs = checkTimeoutMs(opts.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS, `${what}: option "timeoutMs"`);
  const started = Date.now();
  return { started, deadline: started + timeoutMs, timeoutMs };
}

/** Diagnostics for a failed wait, cut short REPORT_BUDGET_MS (or, when the server was answering, ANSWERING_REPORT_BUDGET_MS) after its deadline. */
export async function boundedDiagnostics(deadline: number, collect: () => Promise<string>, answering = false): Promise<string> {
  const allowed = answering ? ANSWERING_REPORT_BUDGET_MS : REPORT_BUDGET_MS;
  const ms = Math.max(100, Math.min(allowed, deadline + allowed - Date.now()));
  const budget = AbortSignal.timeout(ms);
  return await withRequestSignal(budget, () => abortable(collect(), budget)).catch(
    () => `(diagnostics cut short: the API server did not answer them within ${ms} ms)`,
  );
}

/**
 * Polls `read` until `check` says done, fails, or the deadline passes.
 * Shared by rollout and waitFor so both keep the same deadline rules. Every
 * read runs under the deadline (request-scope.ts), so a frozen or vanished
 * API server ends the wait on time; `unanswered` is then the read's error.
 */
async function poll<T>(
  what: string,
  read: () => Promise<T>,
  check: (value: T) => { done: boolean; failed?: boolean; seen: string },
  onFail: (seen: string, value: T | undefined, timedOut: boolean, unanswered: Error | undefined, answering: boolean) => Promise<never>,
  opts: WaitOptions,
  { started, deadline }: { started: number; deadline: number },
): Promise<T> {
  const limit = deadlineSignal(deadline, what);
  const signal = opts.signal ? AbortSignal.any([opts.signal, limit.signal]) : limit.signal;
  // Requests end at the deadline (`signal`); a read's own error (which names
  // the fault it found, see FAULT_PROBE_MS) is awaited a little longer.
  const grace = deadlineSignal(deadline + FAULT_PROBE_MS + 150, what);
  const backstop = opts.signal ? AbortSignal.any([opts.signal, grace.signal]) : grace.signal;
  let lastReport = started;
  let seen = "not read yet";
  let last: T | undefined;
  let answering = false; // some read got an answer (the server is up, maybe busy)
  try {
    while (true) {
      opts.signal?.throwIfAborted();
      try {
        last = await withRequestSignal(signal, () => abortable(read(), backstop));
        answering = true;
        const state = check(last);
        seen = state.seen;
        if (state.done) return last;
        if (state.failed) return await onFail(seen, last, false, undefined, true);
      } catch (err) {
        opts.signal?.throwIfAborted();
        if (limit.signal.aborted) return await onFail(seen, last, true, err as Error, answering);
        if (!(err instanceof KubeApiError && err.code === 404)) throw err;
        answering = true;
        seen = "does not exist (yet)";
        last = undefined;
      }
      const now = Date.now();
      if (now >= deadline) return await onFail(seen, last, true, undefined, answering);
      if (opts.progress && now - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = now;
        opts.progress(`waiting for ${what}: ${seen} (${Math.round((now - started) / 1000)}s)`);
      }
      await sleep(Math.min(WAIT_POLL_MS, deadline - now), opts.signal);
      if (Date.now() >= deadline) return await onFail(seen, last, true, undefined, answering); // no read that could only be cut off
    }
  } finally {
    limit.clear();
    grace.clear();
  }
}

/**
 * "…; the last request got no answer by the deadline: <why>" when the last
 * read was cut off and that says something: a fault was found, or the
 * server never answered. A server that was answering and is merely busy had
 * one read in flight at the deadline, which is no news.
 */
const unansweredNote = (err: Error | undefined, answering = false) =>
  err && (hasFault(err) || !answering) ? `; the last request got no answer by the deadline: ${err.message}` : "";
const hasFault = (err: Error | undefined) => err instanceof KubeTransportError && err.fault !== undefined;

export function createRollout(deps: WaitDeps) {
  /**
   * Waits until a Deployment, StatefulSet or DaemonSet has rolled out its
   * current spec (as `kubectl rollout status`). Returns the object.
   */
  return async function rollout(target: string | KubernetesObject, opts: WaitOptions = {}): Promise<Wrapped<KubeObject>> {
    let kind: RolloutKind;
    let name: string;
    let namespace = opts.namespace ?? "default";
    if (typeof target === "string") ({ kind, name } = parseRolloutTarget(target));
    else {
      const ref = parseWaitTarget(target, opts.namespace);
      if (!["Deployment", "StatefulSet", "DaemonSet"].includes(ref.kind)) {
        throw new TypeError(`rollout(): ${ref.kind} has no rollout; give a Deployment, StatefulSet or DaemonSet`);
      }
      ({ name } = ref);
      kind = ref.kind as RolloutKind;
      namespace = ref.namespace ?? namespace;
    }
    const what = `rollout of ${kind.toLowerCase()} ${namespace}/${name}`;
    const ref = { apiVersion: "apps/v1", kind, metadata: { name, namespace } };
    const time = waitDeadline("rollout()", opts);
    return await poll(
      what,
      () => deps.objects.read(ref),
      (o) => {
        const s = rolloutState(kind, o);
        return { done: s.done, failed: s.failed, seen: s.message };
      },
      async (seen, o, timedOut, unanswered, answering) => {
        // A node with a fault (paused, gone) will not answer diagnostics either.
        const diagnostics = hasFault(unanswered) ? "" : await boundedDiagnostics(time.deadline, () => deps.diagnostics(namespace, podFilter(kind, o, name)), answering);
        const head = timedOut
          ? `${what}: not complete within ${time.timeoutMs / 1000}s (last seen: ${seen})${unansweredNote(unanswered, answering)}`
          : `${what} failed: ${seen}`;
        throw new WaitError(head, seen, diagnostics, timedOut);
      },
      opts,
      time,
    );
  };
}

export function createWaitFor(deps: WaitDeps) {
  /**
   * Waits until an object has a condition ("Ready", "Available", "Complete",
   * "Ready=False", …) or satisfies a predicate. Returns the object.
   * Waiting for a condition of a Job stops early when the Job has Failed.
   */
  return async function waitFor<T = KubeObject>(
    target: string | KubernetesObject,
    condition: ConditionName | Predicate<Wrapped<T>>,
    opts: WaitOptions = {},
  ): Promise<Wrapped<T>> {
    const ref = parseWaitTarget(target, opts.namespace);
    const wanted = typeof condition === "function" ? undefined : parseCondition(condition);
    const time = waitDeadline("waitFor()", opts);
    // Discovery counts against the deadline too.
    const limit = deadlineSignal(time.deadline, "waitFor()");
    const grace = deadlineSignal(time.deadline + FAULT_PROBE_MS + 150, "waitFor()");
    const discovery = opts.signal ? AbortSignal.any([opts.signal, limit.signal]) : limit.signal;
    const backstop = opts.signal ? AbortSignal.any([opts.signal, grace.signal]) : grace.signal;
    const resource = await withRequestSignal(discovery, () => abortable(resolveResource(deps.objects, ref.apiVersion, ref.kind, { signal: discovery }), backstop))
      .catch((err) => {
        opts.signal?.throwIfAborted();
        if (limit.signal.aborted) throw new WaitError(`waitFor(): no answer from the API server within ${time.timeoutMs / 1000}s while resolving ${ref.kind}${unansweredNote(err)}`, "not read yet", "", true);
        throw err;
      })
      .finally(() => {
        limit.clear();
        grace.clear();
      });
    const namespace = resource.namespaced ? ref.namespace ?? "default" : undefined;
    const label = `${ref.kind.toLowerCase()} ${namespace ? `${namespace}/` : ""}${ref.name}`;
    const what = wanted ? `${label} to be ${wanted.type}${wanted.status === "True" ? "" : `=${wanted.status}`}` : `${label} to satisfy the predicate`;
    const readRef = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(namespace ? { namespace } : {}) } };
    return await poll(
      what,
      () => deps.objects.read(readRef) as Promise<Wrapped<T>>,
      (o) => {
        if (!wanted) return { done: Boolean((condition as Predicate<Wrapped<T>>)(o)), seen: summarizeConditions(o) };
        const c = conditionsOf(o).find((c) => c.type === wanted.type);
        const failed = terminalFailure(o, wanted.type);
        return { done: c?.status === wanted.status, failed: failed !== undefined, seen: summarizeConditions(o) };
      },
      async (seen, o, timedOut, unanswered, answering) => {
        const diagnostics = namespace && !hasFault(unanswered) ? await boundedDiagnostics(time.deadline, () => deps.diagnostics(namespace, podFilter(ref.kind, o, ref.name)), answering) : "";
        const head = timedOut
          ? `waiting for ${what}: not met within ${time.timeoutMs / 1000}s (last seen: ${seen})${unansweredNote(unanswered, answering)}`
          : `waiting for ${what}: it failed for good (${seen})`;
        throw new WaitError(head, seen, diagnostics, timedOut);
      },
      opts,
      time,
    );
  };
}
