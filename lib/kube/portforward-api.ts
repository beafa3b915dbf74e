// What callers of portForward() see: its options (and their checks), the
// handle it returns, and its error.

export const PORT_FORWARD_CONNECT_TIMEOUT_MS = 15_000;

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

/** The checks portForward() makes before any API call; returns the local port asked for (0: any). */
export function checkForwardArguments(remotePort: number, opts: PortForwardOptions): number {
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
  return wanted;
}
