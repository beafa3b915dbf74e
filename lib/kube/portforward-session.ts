// What the connections of one port-forward share: the pod and its endpoint,
// how they are recorded and reported, the connections still open, whether
// the forward is closing, and the SPDY tunnel they are multiplexed over.

import type { Socket } from "node:net";
import { describeKubeMeta, type KubeMeta } from "../recorder.ts";
import type { StreamContext } from "./exec.ts";
import type { PortForwardError } from "./portforward-api.ts";
import { podGoneReason, type PortForwardLookups } from "./portforward-target.ts";
import { PortForwardTunnel, TUNNEL_PROTOCOL } from "./portforward-tunnel.ts";
import { connectWebSocket, UpgradeRefusedError, type WebSocketConnection } from "./websocket.ts";

/** An accepted local connection, and its own WebSocket once it has one (v4 transport). */
export interface OpenConnection {
  sock: Socket;
  ws?: WebSocketConnection;
}

export class ForwardSession {
  /** The pod's portforward endpoint on the API server. */
  readonly url: string;
  readonly meta: KubeMeta;
  /** How errors name the forward: the call and the pod's port. */
  readonly what: string;
  readonly open = new Set<OpenConnection>();
  /** The most recent connection failure. */
  lastError: PortForwardError | undefined;
  /** Set by the forward's close(): connections ending now are not failures. */
  closing = false;
  /**
   * The SPDY tunnel, opened at start and again on the next connection after
   * it was lost; one recorded API call per tunnel.
   */
  tunnel: PortForwardTunnel | undefined;
  #opening: Promise<PortForwardTunnel> | undefined;

  constructor(
    readonly ctx: StreamContext,
    private readonly lookups: PortForwardLookups,
    readonly pod: { namespace: string; name: string; port: number },
    readonly connectTimeoutMs: number,
    private readonly onError: ((err: PortForwardError) => void) | undefined,
  ) {
    const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}/portforward`;
    this.url = `${ctx.server.replace(/\/$/, "")}${path}`;
    this.meta = { verb: "portforward", apiVersion: "v1", resource: "pods", namespace: pod.namespace, name: pod.name };
    this.what = `${describeKubeMeta(this.meta)} port ${pod.port}`;
  }

  report(err: PortForwardError): void {
    this.lastError = err;
    try {
      this.onError?.(err);
    } catch { /* a listener's own failure is not ours */ }
  }

  /** After the pod side ended a connection: is the pod gone or going? Then that is the reason. */
  podGone(): Promise<string | undefined> {
    return podGoneReason(this.lookups, this.pod);
  }

  async openTunnel(): Promise<PortForwardTunnel> {
    const { ctx, url } = this;
    const seq = ctx.recorder.begin("GET", url);
    ctx.recorder.annotate(seq, { kind: "kube", ...this.meta });
    let ws: WebSocketConnection;
    try {
      ws = await connectWebSocket({ url, protocols: [TUNNEL_PROTOCOL], tls: ctx.tls, headers: ctx.headers, timeoutMs: this.connectTimeoutMs, reuseReadBuffer: true });
    } catch (err) {
      ctx.recorder.end(seq, err instanceof UpgradeRefusedError ? { status: err.status } : { error: (err as Error).message.replace(`${url}: `, "") });
      throw err;
    }
    ctx.recorder.end(seq, { status: 101 });
    const t = new PortForwardTunnel(ws);
    t.closed.then((info) => {
      if (info.error && !this.closing) ctx.recorder.end(seq, { error: t.lostReason ?? info.error.message });
    });
    return t;
  }

  /** The open tunnel, or one being opened for the connections waiting on it. */
  currentTunnel(): Promise<PortForwardTunnel> {
    if (this.tunnel?.isOpen) return Promise.resolve(this.tunnel);
    return this.#opening ??= this.openTunnel().then(
      (t) => ((this.tunnel = t), (this.#opening = undefined), t),
      (err) => {
        this.#opening = undefined;
        throw err;
      },
    );
  }
}
