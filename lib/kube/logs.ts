// Container logs: `logs(pod | selector, { container, tail })`. Read over the
// same mTLS transport (recorded as `get pods/log · ns/name`), each request
// with its own deadline: the API server proxies it to the node's kubelet,
// which may not answer at all.

import { checkTimeoutMs, describeValue } from "../limits.ts";
import { describeKubeMeta, type Recorder } from "../recorder.ts";
import { describeKubeRequest } from "./describe.ts";
import { KubeApiError } from "./errors.ts";
import { FAULT_PROBE_MS, FAULT_PROBE_REFUSED_MS, type FaultProbe, KubeTransportError, probeFault } from "./http-library.ts";
import type { Transport } from "./transport.ts";
import { currentRequestSignal } from "./request-scope.ts";

export const LOG_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_LOG_TAIL = 100;

/**
 * Which logs `logs()` reads.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * console.log(await env.svc.k8s.logs("k8s-app=kube-dns", { namespace: "kube-system", tail: 20 }));
 * ```
 */
export interface LogsOptions {
  /** Namespace of the pod(s). Default "default". */
  namespace?: string;
  /** Container name; default: every container of the pod. */
  container?: string;
  /** Lines from the end of each log. Default 100. */
  tail?: number;
  /** The previous (crashed) instance's log. */
  previous?: boolean;
  /** Deadline per log request. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface PodRef {
  metadata?: { name?: string; namespace?: string };
  spec?: { containers?: { name: string }[]; initContainers?: { name: string }[] };
}

/** GETs a path under the API server and returns the body text; a non-2xx answer is a KubeApiError. */
export type GetText = (path: string, query: Record<string, string>, opts: { timeoutMs: number; signal?: AbortSignal }) => Promise<string>;

export function createGetText(transport: Transport, recorder: Recorder, server: string, headers: Record<string, string>, fault?: FaultProbe): GetText {
  return async (path, query, opts) => {
    const url = `${server.replace(/\/$/, "")}${path}${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ""}`;
    const seq = recorder.begin("GET", url);
    const meta = describeKubeRequest("GET", url);
    if (meta) recorder.annotate(seq, { kind: "kube", ...meta });
    const scoped = currentRequestSignal(); // the operation's deadline (request-scope.ts)
    const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : []), ...(scoped ? [scoped] : [])];
    let res: Response;
    let body: string;
    try {
      res = await transport.fetch(url, { method: "GET", headers: { ...headers, accept: "*/*" }, signal: AbortSignal.any(signals) });
      body = await res.text();
    } catch (err) {
      recorder.end(seq, { error: (err as Error)?.message ?? String(err) });
      const reason = (err as Error)?.name === "TimeoutError" ? new Error(`no answer within ${opts.timeoutMs} ms`, { cause: err }) : err;
      throw new KubeTransportError("GET", url, reason, await probeFault(fault, (err as Error)?.name === "TimeoutError" || opts.signal?.aborted ? FAULT_PROBE_MS : FAULT_PROBE_REFUSED_MS));
    }
    recorder.end(seq, { status: res.status });
    if (res.ok) return body;
    let status: { reason?: string; message?: string } = {};
    try {
      status = JSON.parse(body);
    } catch {
      status = { message: body.slice(0, 500) };
    }
    const what = meta ? describeKubeMeta(meta) : `GET ${url}`;
    throw new KubeApiError(
      `${what}: ${res.status} ${[status.reason, status.message].filter(Boolean).join(": ") || "no details"}`,
      res.status,
      status.reason,
      body,
      "GET",
      url,
    );
  };
}

/** The log of one container of one pod. */
export function readContainerLog(
  getText: GetText,
  namespace: string,
  pod: string,
  opts: { container?: string; tail?: number; previous?: boolean; timeoutMs?: number; signal?: AbortSignal; limitBytes?: number },
): Promise<string> {
  const query: Record<string, string> = {};
  if (opts.container) query.container = opts.container;
  if (opts.tail !== undefined) query.tailLines = String(opts.tail);
  if (opts.previous) query.previous = "true";
  if (opts.limitBytes) query.limitBytes = String(opts.limitBytes);
  return getText(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`,
    query,
    { timeoutMs: opts.timeoutMs ?? LOG_REQUEST_TIMEOUT_MS, signal: opts.signal },
  );
}

/** A label selector (has "=", "!=", " in (", …) rather than a pod name (never has those). */
export function isSelector(target: string): boolean {
  return /[=!(),]|\s/.test(target);
}

/**
 * Logs of a pod (name or object) or of every pod a label selector matches.
 * One pod and one container: the log text. Otherwise each log is headed by
 * `==> <pod>/<container> <==` (like `tail` of several files).
 */
export async function podLogs(
  deps: { getText: GetText; listPods(namespace: string, labelSelector: string): Promise<PodRef[]>; readPod(namespace: string, name: string): Promise<PodRef> },
  target: string | PodRef,
  opts: LogsOptions = {},
): Promise<string> {
  if (opts.tail !== undefined && (!Number.isSafeInteger(opts.tail) || opts.tail < 0)) {
    throw new TypeError(`logs(): option "tail" must be a non-negative integer number of lines such as 50; got ${describeValue(opts.tail)}`);
  }
  if (opts.timeoutMs !== undefined) checkTimeoutMs(opts.timeoutMs, 'logs(): option "timeoutMs"', 10_000);
  let pods: PodRef[];
  let namespace = opts.namespace ?? "default";
  if (typeof target === "string") {
    if (target.trim() === "") throw new TypeError('logs(): give a pod name, a pod object or a label selector such as "app=web"');
    if (isSelector(target)) {
      pods = await deps.listPods(namespace, target);
      if (pods.length === 0) throw new Error(`logs(): no pods in namespace ${namespace} match the selector "${target}"`);
    } else {
      pods = [await deps.readPod(namespace, target)];
    }
  } else if (target && typeof target === "object" && target.metadata?.name) {
    namespace = target.metadata.namespace ?? namespace;
    pods = [target];
  } else {
    throw new TypeError(`logs(): give a pod name, a pod object or a label selector such as "app=web"; got ${JSON.stringify(target)}`);
  }

  const parts: { header: string; text: string }[] = [];
  for (const pod of pods) {
    const name = pod.metadata!.name!;
    const containers = opts.container ? [opts.container] : (pod.spec?.containers ?? []).map((c) => c.name);
    for (const container of containers) {
      const text = await readContainerLog(deps.getText, namespace, name, {
        container,
        tail: opts.tail ?? DEFAULT_LOG_TAIL,
        previous: opts.previous,
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
      });
      parts.push({ header: `==> ${name}/${container} <==`, text });
    }
  }
  if (parts.length === 1) return parts[0].text;
  return parts.map((p) => `${p.header}\n${p.text}${p.text.endsWith("\n") || p.text === "" ? "" : "\n"}`).join("\n");
}
