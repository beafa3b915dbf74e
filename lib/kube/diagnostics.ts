// What a namespace looks like when something did not become ready: pod
// phases, container waiting/terminated reasons and messages (the message
// carries containerd's real error, e.g. the failing pull), the newest Warning
// events, and the tail of the log of each failing container. Never throws:
// it is printed on a path that is already failing.

import type { CoreV1Api, V1Pod } from "../../deps.ts";
import { type GetText, readContainerLog } from "./logs.ts";
import type { Tagged } from "./tagging.ts";

/**
 * What `diagnostics()` reports on.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * console.error(await env.svc.k8s.diagnostics({ namespace: "kube-system", labelSelector: "k8s-app=kube-dns", logTail: 50 }));
 * ```
 */
export interface DiagnosticsOptions {
  /** Only pods matching this label selector (events stay namespace-wide). */
  labelSelector?: string;
  /** Only pods matching this field selector, e.g. "metadata.name=web-0". */
  fieldSelector?: string;
  /** Lines of log per failing container. Default 20; 0 turns log tails off. */
  logTail?: number;
  /** At most this many container logs. Default 6. */
  maxLogs?: number;
}

export interface DiagnosticsDeps {
  core: Tagged<CoreV1Api>;
  /** Log reader; without it no log tails are shown. */
  getText?: GetText;
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();
const LOG_TIMEOUT_MS = 5_000;
const LOG_LIMIT_BYTES = 16_384;

type ContainerStatus = NonNullable<NonNullable<V1Pod["status"]>["containerStatuses"]>[number];

/**
 * A container worth a log tail: it ran (or crashed) and is not healthy now.
 * `previous` asks for the crashed instance when the current one has not started.
 */
export function failingContainer(pod: V1Pod, c: ContainerStatus): { previous: boolean } | undefined {
  if (pod.status?.phase === "Succeeded") return undefined;
  const s = c.state ?? {};
  const crashedBefore = (c.restartCount ?? 0) > 0 || c.lastState?.terminated !== undefined;
  if (s.terminated) return s.terminated.exitCode !== 0 ? { previous: false } : undefined;
  if (s.waiting) return crashedBefore ? { previous: true } : undefined; // never started: ImagePull…, no log yet
  // Restarted after a crash and up again for the moment (crash loops spend seconds here,
  // ready when there is no probe): the crashed instance's log explains it.
  if (s.running && c.lastState?.terminated) return { previous: true };
  if (s.running) return c.ready ? undefined : { previous: false }; // e.g. a failing readiness probe
  return undefined;
}

export async function collectDiagnostics(deps: DiagnosticsDeps, namespace: string, opts: DiagnosticsOptions = {}): Promise<string> {
  const lines: string[] = [];
  const logTail = opts.logTail ?? 20;
  let logsLeft = opts.maxLogs ?? 6;
  try {
    const pods = (await deps.core.listNamespacedPod({ namespace, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector })).unwrap();
    const filter = [opts.labelSelector, opts.fieldSelector].filter(Boolean).join(", ");
    lines.push(`${namespace} pods${filter ? ` matching ${filter}` : ""} (${pods.items.length}):`);
    for (const pod of pods.items) {
      const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
      const reasons = statuses.map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).filter(Boolean);
      const unscheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
      lines.push(
        `  ${pod.metadata?.name}: phase=${pod.status?.phase ?? "?"}${reasons.length ? ` reasons=${reasons.join(",")}` : ""}${
          unscheduled ? ` unschedulable: ${oneLine(unscheduled.message ?? unscheduled.reason ?? "")}` : ""
        }`,
      );
      for (const c of statuses) {
        const message = c.state?.waiting?.message ?? c.state?.terminated?.message;
        const last = c.lastState?.terminated;
        const restarts = c.restartCount ? ` (restarts: ${c.restartCount}${last ? `, last ended: ${last.reason ?? "?"} exit ${last.exitCode}` : ""})` : "";
        if (message || restarts) lines.push(`    ${c.name}:${restarts}${message ? ` ${oneLine(message)}` : ""}`);
        const failing = failingContainer(pod, c);
        if (!failing || !deps.getText || logTail === 0) continue;
        if (logsLeft-- <= 0) continue;
        lines.push(...await logTailLines(deps.getText, namespace, pod.metadata!.name!, c.name, logTail, failing.previous));
      }
    }
  } catch (err) {
    lines.push(`(could not list ${namespace} pods: ${(err as Error)?.message ?? err})`);
  }
  try {
    const events = (await deps.core.listNamespacedEvent({ namespace })).unwrap();
    const warnings = events.items.filter((e) => e.type === "Warning" && e.message);
    if (warnings.length > 0) {
      lines.push(`${namespace} Warning events (last ${Math.min(12, warnings.length)} of ${warnings.length}):`);
      for (const e of warnings.slice(-12)) lines.push(`  ${e.involvedObject?.name ?? "?"} [${e.reason ?? "?"}] ${oneLine(e.message ?? "")}`);
    }
  } catch (err) {
    lines.push(`(could not list ${namespace} events: ${(err as Error)?.message ?? err})`);
  }
  return lines.join("\n");
}

/**
 * The kubelet's 200 answers when the instance a pod's status names is gone: in
 * a crash loop the status lags, and the instance it calls the last one may
 * already have been replaced (started, crashed) and removed — with its
 * container, or only its log file (`…/app/1.log: no such file or directory`).
 */
const LOG_GONE = /^(unable to retrieve container logs for |failed to try resolving symlinks in path "\/var\/log\/pods\/[^"]*": lstat [^:]*: no such file or directory)/;

/**
 * The log of the instance `failingContainer` chose (`previous` or not); when
 * the kubelet no longer has it, the other instance's, if that one has a log.
 */
export async function failingContainerLog(
  getText: GetText,
  namespace: string,
  pod: string,
  container: string,
  tail: number,
  previous: boolean,
): Promise<{ text: string; previous: boolean }> {
  const read = (prev: boolean) => readContainerLog(getText, namespace, pod, { container, tail, previous: prev, timeoutMs: LOG_TIMEOUT_MS, limitBytes: LOG_LIMIT_BYTES });
  const first = await read(previous).then((text) => ({ text }), (error: unknown) => ({ error }));
  if ("text" in first && first.text.trim() !== "" && !LOG_GONE.test(first.text)) return { text: first.text, previous };
  // Gone, empty (an instance that has just been started) or refused (the kubelet's 400 when the
  // instance the status named was replaced in between): the other instance may say it.
  const other = await read(!previous).catch(() => "");
  if (other.trim() !== "" && !LOG_GONE.test(other)) return { text: other, previous: !previous };
  if ("error" in first) throw first.error;
  return { text: first.text, previous };
}

async function logTailLines(getText: GetText, namespace: string, pod: string, container: string, tail: number, previous: boolean) {
  try {
    const log = await failingContainerLog(getText, namespace, pod, container, tail, previous);
    const label = `    ${container} log${log.previous ? " (previous instance)" : ""}, last ${tail} lines:`;
    const body = log.text.replace(/\n$/, "").split("\n");
    return log.text.trim() === "" ? [`${label} (empty)`] : [label, ...body.map((l) => `      | ${l}`)];
  } catch (err) {
    return [`    ${container} log: could not read it: ${(err as Error)?.message ?? err}`];
  }
}
