// portForward(target, remotePort): a TCP listener on 127.0.0.1 whose every
// connection is carried to the pod's port through the API server.
//
// Protocol: one WebSocket (v4.channel.k8s.io, pods/<name>/portforward) per
// accepted connection. The API server proxies it to the node's kubelet, which
// hands it to the container runtime's streaming server (containerd's CRI
// plugin here and in real k3s). This is the protocol every release since
// Kubernetes 1.4 serves. kubectl ≥ 1.31 instead tunnels SPDY through one
// WebSocket and multiplexes connections over it; that needs a SPDY/3.1
// framer with zlib header compression under a preset dictionary, and saves
// the per-connection TLS handshake. We chose the plain protocol: simpler,
// no compression code, each connection isolated (one failing stream cannot
// take the others down), and it works with real k3s v1.32 and the v1.35 node
// alike. Its limit: v4 has no way to half-close, so a client's end-of-write
// is not passed on (the connection stays open for reading until either side
// closes it).

import { createServer, type Server, type Socket } from "node:net";
import type { CoreV1Api, V1Pod } from "../../deps.ts";
import { describeKubeMeta } from "../recorder.ts";
import { parseChannelMessage, PORT_FORWARD_PROTOCOL } from "./channels.ts";
import { KubeApiError } from "./errors.ts";
import type { StreamContext } from "./exec.ts";
import type { Tagged } from "./tagging.ts";
import { PortForwardTunnel, TUNNEL_HIGH_WATER, TUNNEL_PROTOCOL } from "./portforward-tunnel.ts";
import { connectWebSocket, UpgradeRefusedError, type WebSocketConnection } from "./websocket.ts";

export const PORT_FORWARD_CONNECT_TIMEOUT_MS = 15_000;
/** v4 port-forward: channel 0 carries the data (its first byte on every message we send). */
const DATA_CHANNEL = Uint8Array.of(0);
/** How long the check "is the pod still there?" may take when a pod closes a connection. */
const POD_CHECK_TIMEOUT_MS = 3_000;

/**
 * How `portForward()` listens and connects.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await using fwd = await env.svc.k8s.portForward("service/web", 80, {
 *   namespace: "shop",
 *   localPort: 8080,
 *   onError: (err) => console.error(err.message),
 * });
 * ```
 */
export interface PortForwardOptions {
  /** Namespace of the target. Default "default" (or the namespace handle's). */
  namespace?: string;
  /** Local port on 127.0.0.1; default 0 (any free port, see `localPort` of the result). */
  localPort?: number;
  /** Called with each connection's failure (the pod went away, refused the port, …). */
  onError?: (err: PortForwardError) => void;
  /** Deadline for each connection's upgrade through the API server. Default 15 s. */
  connectTimeoutMs?: number;
  /**
   * "tunnel": one SPDY-over-WebSocket session for all connections (kubectl's
   * protocol, Kubernetes 1.31+); "websocket": one v4.channel.k8s.io
   * WebSocket per connection (every version; no half-close). Default: the
   * tunnel where the API server offers it, else "websocket".
   */
  transport?: "tunnel" | "websocket";
}

/**
 * A local port forwarding to a pod, open until `close()` or the end of an
 * `await using` block.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await using fwd = await env.svc.k8s.portForward("service/web", 80);
 * const res = await fetch(`http://127.0.0.1:${fwd.localPort}/healthz`);
 * console.log(res.status, fwd.pod); // { namespace, name, port }: the pod and targetPort the Service resolved to
 * ```
 */
export interface PortForward extends AsyncDisposable {
  /** The local port (127.0.0.1) that forwards to the pod. */
  readonly localPort: number;
  /** The pod the connections go to, and its port (a Service's targetPort already resolved). */
  readonly pod: { namespace: string; name: string; port: number };
  /** The most recent connection failure, if any: why connections ended with an error. */
  readonly lastError: PortForwardError | undefined;
  /** Stops listening (the port is free when this resolves) and ends every open connection. */
  close(): Promise<void>;
}

/**
 * `portForward()` could not set up the forward (no such pod or Service, no
 * ready pod behind it, the upgrade refused), or a connection through it
 * failed (then given to `onError` and kept as `lastError`).
 *
 * @example
 * ```ts
 * import { k3s, PortForwardError, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await using fwd = await env.svc.k8s.portForward("pod/missing", 80);
 * } catch (err) {
 *   if (!(err instanceof PortForwardError)) throw err;
 *   console.error(err.message);
 * }
 * ```
 */
export class PortForwardError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PortForwardError";
  }
}

/** What port-forward needs from the typed client to resolve its target. */
export interface PortForwardLookups {
  core: Tagged<CoreV1Api>;
}

const isNotFound = (err: unknown) => err instanceof KubeApiError && err.code === 404;
const isReady = (p: V1Pod) =>
  !p.metadata?.deletionTimestamp && p.status?.phase === "Running" && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** "service/web", "svc/web", "pod/web-0" or "web-0". */
export function parseForwardTarget(target: string): { kind: "pod" | "service"; name: string } {
  const m = /^(?:(pod|pods|po|service|services|svc)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(typeof target === "string" ? target : "");
  if (!m) throw new TypeError(`portForward(): target must be "pod/<name>", "service/<name>" or a pod name; got ${JSON.stringify(target)}`);
  return { kind: m[1]?.startsWith("s") ? "service" : "pod", name: m[2] };
}

/**
 * Resolves the target to one pod and its port, as kubectl does: a Service's
 * port (which must be one of its ports) becomes its targetPort (a named
 * targetPort looked up among the pod's container ports), on the first ready
 * pod its selector matches.
 */
export async function resolveForwardTarget(
  lookups: PortForwardLookups,
  target: string,
  remotePort: number,
  namespace: string,
): Promise<{ namespace: string; name: string; port: number }> {
  const { kind, name } = parseForwardTarget(target);
  const core = lookups.core;
  if (kind === "pod") {
    let pod: V1Pod;
    try {
      pod = (await core.readNamespacedPod({ namespace, name })).unwrap();
    } catch (err) {
      if (isNotFound(err)) throw new PortForwardError(`portForward(): pod ${namespace}/${name} not found`, { cause: err });
      throw err;
    }
    if (pod.status?.phase !== "Running") {
      throw new PortForwardError(`portForward(): pod ${namespace}/${name} is not running (phase ${pod.status?.phase ?? "unknown"})`);
    }
    return { namespace, name, port: remotePort };
  }
  let svc;
  try {
    svc = (await core.readNamespacedService({ namespace, name })).unwrap();
  } catch (err) {
    if (isNotFound(err)) throw new PortForwardError(`portForward(): service ${namespace}/${name} not found`, { cause: err });
    throw err;
  }
  const selector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
  if (!selector) throw new PortForwardError(`portForward(): service ${namespace}/${name} has no selector, so no pod to forward to`);
  const svcPort = (svc.spec?.ports ?? []).find((p) => p.port === remotePort);
  if (!svcPort) {
    const ports = (svc.spec?.ports ?? []).map((p) => p.port).join(", ") || "none";
    throw new PortForwardError(`portForward(): service ${namespace}/${name} has no port ${remotePort} (its ports: ${ports})`);
  }
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).unwrap().items;
  const pod = pods.filter(isReady).sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1))[0];
  if (!pod) throw new PortForwardError(`portForward(): service ${namespace}/${name} has no ready pod (selector ${selector}, ${pods.length} pod(s) match)`);
  const tp = svcPort.targetPort as number | string | undefined;
  let port = remotePort;
  if (typeof tp === "number") port = tp;
  else if (typeof tp === "string" && /^\d+$/.test(tp)) port = Number(tp);
  else if (typeof tp === "string") {
    const named = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === tp);
    if (!named) throw new PortForwardError(`portForward(): service ${namespace}/${name} targets port "${tp}", which no container of pod ${pod.metadata!.name} names`);
    port = named.containerPort;
  }
  return { namespace, name: pod.metadata!.name!, port };
}

export async function startPortForward(
  ctx: StreamContext,
  lookups: PortForwardLookups,
  target: string,
  remotePort: number,
  opts: PortForwardOptions = {},
): Promise<PortForward> {
  if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
    throw new TypeError(`portForward(): remotePort must be a port number 1–65535; got ${JSON.stringify(remotePort)}`);
  }
  if (opts.transport !== undefined && opts.transport !== "tunnel" && opts.transport !== "websocket") {
    throw new TypeError(`portForward(): transport must be "tunnel" or "websocket"; got ${JSON.stringify(opts.transport)}`);
  }
  const wanted = opts.localPort ?? 0;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) {
    throw new TypeError(`portForward(): localPort must be a port number 0–65535 (0: any free port); got ${JSON.stringify(opts.localPort)}`);
  }
  const pod = await resolveForwardTarget(lookups, target, remotePort, opts.namespace ?? "default");
  const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/portforward`;
  const url = `${ctx.server.replace(/\/$/, "")}${path}`;
  const meta = { verb: "portforward", apiVersion: "v1", resource: "pods", namespace: pod.namespace, name: pod.name };
  const what = `${describeKubeMeta(meta)} port ${pod.port}`;
  const connectTimeoutMs = opts.connectTimeoutMs ?? PORT_FORWARD_CONNECT_TIMEOUT_MS;
  const open = new Set<{ sock: Socket; ws?: WebSocketConnection }>();
  let lastError: PortForwardError | undefined;
  let closing = false;

  const report = (err: PortForwardError) => {
    lastError = err;
    try {
      opts.onError?.(err);
    } catch { /* a listener's own failure is not ours */ }
  };

  /** After the pod side ended a connection: is the pod gone or going? Then that is the reason. */
  const podGone = async (): Promise<string | undefined> => {
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const read = lookups.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name });
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no answer")), POD_CHECK_TIMEOUT_MS)));
      const p = (await Promise.race([read, late]).finally(() => clearTimeout(timer))).unwrap();
      if (p.metadata?.deletionTimestamp) return `pod ${pod.namespace}/${pod.name} is being deleted`;
      if (p.status?.phase !== "Running") return `pod ${pod.namespace}/${pod.name} is no longer running (phase ${p.status?.phase})`;
      return undefined;
    } catch (err) {
      return isNotFound(err) ? `pod ${pod.namespace}/${pod.name} no longer exists` : undefined;
    }
  };

  /** v4.channel.k8s.io: one WebSocket per connection (for API servers without the SPDY tunnel). */
  const bridgeWebSocket = async (sock: Socket) => {
    const entry: { sock: Socket; ws?: WebSocketConnection } = { sock };
    open.add(entry);
    sock.on("error", () => {}); // its errors end it; the close handler below cleans up
    const seq = ctx.recorder.begin("GET", url);
    ctx.recorder.annotate(seq, { kind: "kube", ...meta });
    const fail = (message: string, cause?: unknown) => {
      const err = new PortForwardError(`${what}: ${message}`, { cause });
      ctx.recorder.end(seq, { error: message });
      report(err);
      sock.destroy(err);
      open.delete(entry);
    };
    let ws: WebSocketConnection;
    try {
      const abort = new AbortController();
      sock.once("close", () => abort.abort(new Error("the local client closed the connection")));
      ws = await connectWebSocket({ url: `${url}?ports=${pod.port}`, protocols: [PORT_FORWARD_PROTOCOL], tls: ctx.tls, headers: ctx.headers, timeoutMs: connectTimeoutMs, signal: abort.signal });
    } catch (err) {
      if (sock.destroyed && !closing) return void (ctx.recorder.end(seq, { error: "the local client left before the upgrade" }), open.delete(entry));
      if (err instanceof UpgradeRefusedError) ctx.recorder.end(seq, { status: err.status });
      return fail((err as Error).message.replace(`${url}: `, ""), err);
    }
    if (closing) {
      ws.destroy();
      return void (ctx.recorder.end(seq, { error: "the forward was closed" }), sock.destroy(), open.delete(entry));
    }
    entry.ws = ws;

    // The first message on each channel is the port number, not data.
    let dataOpened = false;
    let errorOpened = false;
    let errorText = "";
    // One "drain" listener at a time per direction.
    let waitingLocal = false;
    let waitingRemote = false;
    ws.listen((msg) => {
      const { channel, data } = parseChannelMessage(msg);
      if (channel === 0) {
        let bytes = data;
        if (!dataOpened) {
          dataOpened = true;
          bytes = data.subarray(2);
        }
        if (bytes.length > 0 && !sock.write(bytes) && !waitingLocal) {
          waitingLocal = true;
          ws.pause();
          sock.once("drain", () => {
            waitingLocal = false;
            ws.resume();
          });
        }
      } else if (channel === 1) {
        let bytes = data;
        if (!errorOpened) {
          errorOpened = true;
          bytes = data.subarray(2);
        }
        errorText += new TextDecoder().decode(bytes);
      }
    });
    sock.on("data", (chunk: Uint8Array) => {
      if (!ws.send(DATA_CHANNEL, chunk) && !waitingRemote) {
        waitingRemote = true;
        sock.pause();
        ws.onDrain(() => {
          waitingRemote = false;
          sock.resume();
        });
      }
    });
    sock.on("close", () => {
      if (ws.isOpen) ws.close();
    });
    sock.resume();

    const ended = await ws.closed;
    if (sock.destroyed || closing) {
      // We (or the local client) ended it.
      ctx.recorder.end(seq, { status: 101 });
      open.delete(entry);
      if (closing) sock.destroy();
      return;
    }
    if (errorText.trim()) return fail(errorText.trim());
    if (ended.error) {
      const gone = await podGone();
      return fail(gone ?? `the connection through the API server was lost: ${ended.error.message}`, ended.error);
    }
    // The pod side closed. If the pod is going away that is an error, not an end of stream.
    const gone = await podGone();
    if (gone) return fail(gone);
    ctx.recorder.end(seq, { status: 101 });
    open.delete(entry);
    sock.end();
  };

  /**
   * The SPDY tunnel, opened at start and again on the next connection after
   * it was lost; one recorded API call per tunnel.
   */
  let tunnel: PortForwardTunnel | undefined;
  let opening: Promise<PortForwardTunnel> | undefined;
  const openTunnel = async (): Promise<PortForwardTunnel> => {
    const seq = ctx.recorder.begin("GET", url);
    ctx.recorder.annotate(seq, { kind: "kube", ...meta });
    let ws: WebSocketConnection;
    try {
      ws = await connectWebSocket({ url, protocols: [TUNNEL_PROTOCOL], tls: ctx.tls, headers: ctx.headers, timeoutMs: connectTimeoutMs });
    } catch (err) {
      ctx.recorder.end(seq, err instanceof UpgradeRefusedError ? { status: err.status } : { error: (err as Error).message.replace(`${url}: `, "") });
      throw err;
    }
    ctx.recorder.end(seq, { status: 101 });
    const t = new PortForwardTunnel(ws);
    t.closed.then((info) => {
      if (info.error && !closing) ctx.recorder.end(seq, { error: t.lostReason ?? info.error.message });
    });
    return t;
  };
  const currentTunnel = (): Promise<PortForwardTunnel> => {
    if (tunnel?.isOpen) return Promise.resolve(tunnel);
    return opening ??= openTunnel().then(
      (t) => ((tunnel = t), (opening = undefined), t),
      (err) => {
        opening = undefined;
        throw err;
      },
    );
  };

  /** SPDY/3.1+portforward.k8s.io: each connection is a stream pair on the shared tunnel. */
  const bridgeTunnel = async (sock: Socket) => {
    const entry: { sock: Socket; ws?: WebSocketConnection } = { sock };
    open.add(entry);
    sock.on("error", () => {});
    const fail = (message: string, cause?: unknown) => {
      const err = new PortForwardError(`${what}: ${message}`, { cause });
      report(err);
      sock.destroy(err);
      open.delete(entry);
    };
    let t: PortForwardTunnel;
    try {
      t = await currentTunnel();
    } catch (err) {
      return fail((err as Error).message.replace(`${url}: `, ""), err);
    }
    if (closing || sock.destroyed) return void (sock.destroy(), open.delete(entry));
    let localEnded = false;
    let waitingLocal = false;
    let waitingRemote = false;
    const stream = t.open(pod.port, {
      data: (bytes) => {
        sock.write(bytes);
        if (sock.writableLength > TUNNEL_HIGH_WATER && !waitingLocal) {
          // The local client reads slower than the pod sends: hold the tunnel (as kubectl does).
          waitingLocal = true;
          t.pause();
          sock.once("drain", () => {
            if (!waitingLocal) return; // done() already resumed
            waitingLocal = false;
            t.resume();
          });
        }
      },
      // The pod side's FIN is passed on at `done` (right behind it), once we
      // know whether the pod is going away: then it is an error, not an end.
      end: () => {},
      done: async (error) => {
        if (waitingLocal) {
          waitingLocal = false;
          t.resume();
        }
        if (closing || sock.destroyed) return void (sock.destroy(), open.delete(entry));
        // A pod that is gone or going ends the tunnel too: the next connection
        // dials again and hears "not found" at once instead of waiting on a dead session.
        if (error) {
          const gone = await podGone();
          if (gone) t.close(gone);
          return fail(gone ? `${gone} (${error})` : error);
        }
        // The pod side finished on its own, before our client: if the pod is going away that is an error.
        if (!localEnded) {
          const gone = await podGone();
          if (gone) {
            t.close(gone);
            return fail(gone);
          }
        }
        open.delete(entry);
        sock.end();
      },
    }, connectTimeoutMs);
    sock.on("data", (chunk: Uint8Array) => {
      if (!stream.write(chunk) && !waitingRemote) {
        waitingRemote = true;
        sock.pause();
        t.onDrain(() => {
          waitingRemote = false;
          sock.resume();
        });
      }
    });
    sock.on("end", () => {
      localEnded = true;
      stream.end(); // half-close passes through
    });
    sock.on("close", () => stream.reset());
    sock.resume();
  };

  // The tunnel where the API server offers it (Kubernetes 1.31+), else one WebSocket per connection.
  let bridge = bridgeTunnel;
  if (opts.transport === "websocket") bridge = bridgeWebSocket;
  else {
    try {
      tunnel = await openTunnel();
    } catch (err) {
      if (opts.transport === "tunnel" || !(err instanceof UpgradeRefusedError) || [401, 403, 404].includes(err.status)) {
        throw new PortForwardError(`${what}: ${(err as Error).message.replace(`${url}: `, "")}`, { cause: err });
      }
      bridge = bridgeWebSocket;
    }
  }

  // allowHalfOpen: a client's FIN must not end our side at once; the pod's answer may still come.
  // Every accepted socket until it closes, so close() can end half-open ones too.
  const accepted = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (sock) => {
    accepted.add(sock);
    sock.once("close", () => accepted.delete(sock));
    void bridge(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error & { code?: string }) =>
      reject(
        new PortForwardError(
          `portForward(): cannot listen on 127.0.0.1:${wanted}${err.code === "EADDRINUSE" ? " (the port is in use)" : ""}: ${err.message}`,
          { cause: err },
        ),
      ));
    server.listen(wanted, "127.0.0.1", () => resolve());
  });
  const localPort = (server.address() as { port: number }).port;

  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      ctx.forwards?.delete(handle);
      const entries = [...open];
      server.close(() => resolve());
      tunnel?.close();
      for (const e of entries) {
        e.ws?.destroy();
        e.sock.destroy();
      }
      for (const sock of accepted) sock.destroy();
      open.clear();
    });
  const handle: PortForward = {
    localPort,
    pod,
    get lastError() {
      return lastError;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  ctx.forwards?.add(handle);
  return handle;
}
