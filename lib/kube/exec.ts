// exec(pod, argv) over the API server: a WebSocket to pods/<name>/exec with
// the v5.channel.k8s.io protocol (kubectl's default since Kubernetes 1.30,
// so real k3s v1.32 and the v1.35 test node both speak it). The API server
// proxies it to the pod's node, so it works for pods on any node, unlike
// `docker exec` into the node container. v4 is accepted as a fallback for
// older servers when there is no stdin (v4 cannot signal stdin's end).

import { Buffer } from "node:buffer";
import { describeKubeMeta, type Recorder } from "../recorder.ts";
import { CHANNEL, channelMessage, closeChannelMessage, EXEC_PROTOCOLS, execQuery, parseChannelMessage, parseExecStatus } from "./channels.ts";
import type { TlsMaterial } from "./transport.ts";
import { connectWebSocket, UpgradeRefusedError, type WebSocketConnection } from "./websocket.ts";

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const STDIN_CHUNK = 64 * 1024;

/** Where stream calls go and how they authenticate and are recorded. */
export interface StreamContext {
  server: string;
  tls: TlsMaterial;
  headers: Record<string, string>;
  recorder: Recorder;
  /** Port-forwards still listening: the helpers' close() (the environment's stop) closes them. */
  forwards?: Set<{ close(): Promise<void> }>;
}

/**
 * Where and how `exec()` runs a command.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const r = await env.svc.k8s.exec("db-0", ["psql", "-f", "-"], { stdin: "select 1;", container: "postgres", timeoutMs: 10_000 });
 * ```
 */
export interface ExecOptions {
  /** Namespace of the pod. Default "default" (or the namespace handle's). */
  namespace?: string;
  /** Container name; default: the pod's only (or default) container. */
  container?: string;
  /** Bytes for the command's stdin; its end is signalled after them. */
  stdin?: string | Uint8Array;
  /** Deadline for the whole call. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What `exec()` returns: the command's output and exit code (a non-zero exit code is a result, not an error). */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * exec could not run the command, or did not finish (deadline, lost connection).
 *
 * @example
 * ```ts
 * import { ExecError, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.exec("web-0", ["sleep", "60"], { timeoutMs: 1_000 });
 * } catch (err) {
 *   if (!(err instanceof ExecError)) throw err;
 *   console.error(err.message, err.stdout, err.stderr); // what the command wrote before it was cut off
 * }
 * ```
 */
export class ExecError extends Error {
  constructor(message: string, readonly stdout = "", readonly stderr = "", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExecError";
  }
}

interface PodRef {
  metadata?: { name?: string; namespace?: string };
}

/** A pod name ("web-0", "pod/web-0") or object → namespace and name. */
export function podTarget(target: string | PodRef, namespace: string | undefined, what: string): { namespace: string; name: string } {
  if (typeof target === "string") {
    const name = target.startsWith("pod/") ? target.slice(4) : target.startsWith("pods/") ? target.slice(5) : target;
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) throw new TypeError(`${what}: ${JSON.stringify(target)} is not a pod name such as "web-0" or "pod/web-0"`);
    return { namespace: namespace ?? "default", name };
  }
  const name = target?.metadata?.name;
  if (!name) throw new TypeError(`${what}: give a pod name or a pod object with metadata.name; got ${JSON.stringify(target)}`);
  return { namespace: target.metadata?.namespace ?? namespace ?? "default", name };
}

export async function execInPod(ctx: StreamContext, target: string | PodRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
    throw new TypeError(`exec(): argv must be a non-empty array of strings such as ["sh", "-c", "echo hi"]; got ${JSON.stringify(argv)}`);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new TypeError(`exec(): timeoutMs must be a positive number of milliseconds; got ${JSON.stringify(opts.timeoutMs)}`);
  const { namespace, name } = podTarget(target, opts.namespace, "exec()");
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/exec`;
  const url = `${ctx.server.replace(/\/$/, "")}${path}?${execQuery(argv, { container: opts.container, stdin: opts.stdin !== undefined })}`;
  const meta = { verb: "exec", apiVersion: "v1", resource: "pods", namespace, name };
  const what = `${describeKubeMeta(meta)} ${JSON.stringify(argv)}`;
  const seq = ctx.recorder.begin("GET", url);
  ctx.recorder.annotate(seq, { kind: "kube", ...meta });

  const started = Date.now();
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  let ws: WebSocketConnection;
  try {
    ws = await connectWebSocket({ url, protocols: [...EXEC_PROTOCOLS], tls: ctx.tls, headers: ctx.headers, timeoutMs, signal });
  } catch (err) {
    const status = err instanceof UpgradeRefusedError ? err.status : undefined;
    ctx.recorder.end(seq, status ? { status } : { error: (err as Error).message.replace(`${url}: `, "") });
    if (deadline.aborted) throw new ExecError(`${what}: no answer within the ${timeoutMs} ms deadline`, "", "", { cause: err });
    throw new ExecError(`${what}: ${(err as Error).message.replace(`${url}: `, "")}`, "", "", { cause: err });
  }

  const out: Uint8Array[] = [];
  const errOut: Uint8Array[] = [];
  let statusText = "";
  ws.listen((msg) => {
    const { channel, data } = parseChannelMessage(msg);
    if (channel === CHANNEL.stdout) out.push(data);
    else if (channel === CHANNEL.stderr) errOut.push(data);
    else if (channel === CHANNEL.error) statusText += new TextDecoder().decode(data);
  });
  const decoded = () => ({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errOut).toString("utf8") });

  let stop: () => void = () => {};
  const stopped = new Promise<"stopped">((resolve) => {
    stop = () => resolve("stopped");
    signal.addEventListener("abort", stop, { once: true });
  });
  try {
    if (opts.stdin !== undefined) {
      if (ws.protocol !== "v5.channel.k8s.io") {
        ws.destroy();
        throw new ExecError(`${what}: the API server speaks ${ws.protocol}, which cannot end stdin; stdin needs v5.channel.k8s.io (Kubernetes 1.30 or later)`);
      }
      const bytes = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
      for (let i = 0; i < bytes.length && ws.isOpen; i += STDIN_CHUNK) {
        if (!ws.send(channelMessage(CHANNEL.stdin, bytes.subarray(i, i + STDIN_CHUNK)))) {
          const drained = new Promise<"drained">((r) => ws.onDrain(() => r("drained")));
          if ((await Promise.race([drained, stopped, ws.closed])) !== "drained") break;
        }
      }
      ws.send(closeChannelMessage(CHANNEL.stdin));
    }
    const ended = await Promise.race([ws.closed, stopped]);
    if (ended === "stopped") {
      ws.destroy();
      const { stdout, stderr } = decoded();
      if (deadline.aborted) {
        throw new ExecError(
          `${what}: still running at the ${timeoutMs} ms deadline; the connection was closed (without a TTY Kubernetes sends the process no signal, so it may run on in the container)`,
          stdout,
          stderr,
        );
      }
      throw new ExecError(`${what}: aborted after ${Date.now() - started} ms`, stdout, stderr, { cause: opts.signal?.reason });
    }
    const { stdout, stderr } = decoded();
    if (!statusText) {
      const why = ended.error ? ended.error.message : `WebSocket closed (${ended.code}${ended.reason ? ` ${ended.reason}` : ""})`;
      throw new ExecError(`${what}: the connection ended before the command's exit status arrived: ${why}`, stdout, stderr);
    }
    const status = parseExecStatus(statusText);
    if ("failure" in status) throw new ExecError(`${what}: ${status.failure}`, stdout, stderr);
    ctx.recorder.end(seq, { status: 101 });
    return { stdout, stderr, exitCode: status.exitCode };
  } catch (err) {
    // The event spans the whole call: upgraded (101), then how it ended.
    ctx.recorder.end(seq, { error: (err as Error).message.replace(`${what}: `, "") });
    throw err;
  } finally {
    signal.removeEventListener("abort", stop);
    if (ws.isOpen) ws.close();
  }
}
