// portForward(target, remotePort): a TCP listener on 127.0.0.1 whose every
// connection is carried to the pod's port through the API server.
//
// Protocols: where the API server offers it (Kubernetes 1.31+: real k3s
// v1.32 and the v1.35 node), every connection of a forward is a stream pair
// on one SPDY session tunnelled through one WebSocket, as kubectl ≥ 1.31
// does (portforward-tunnel.ts): a new connection costs no TLS handshake and
// half-closes pass through. Elsewhere, or with `transport: "websocket"`,
// each accepted connection gets its own v4.channel.k8s.io WebSocket, the
// protocol every release since Kubernetes 1.4 serves; v4 cannot half-close,
// so a client's end-of-write is not passed on there. Either way the API
// server proxies to the node's kubelet, which hands the stream to the
// container runtime's streaming server (containerd's CRI plugin).
//
// This module starts a forward and owns its listener; portforward-api.ts has
// the options, the handle and the error, portforward-target.ts resolves the
// pod, portforward-session.ts holds what the connections share and
// portforward-bridge.ts carries each one.

import { createServer, type Server, type Socket } from "node:net";
import type { StreamContext } from "./exec.ts";
import { checkForwardArguments, type PortForward, PORT_FORWARD_CONNECT_TIMEOUT_MS, PortForwardError, type PortForwardOptions } from "./portforward-api.ts";
import { bridgeTunnel, bridgeWebSocket } from "./portforward-bridge.ts";
import { ForwardSession } from "./portforward-session.ts";
import { type PortForwardLookups, resolveForwardTarget } from "./portforward-target.ts";
import { UpgradeRefusedError } from "./websocket.ts";

export { type PortForward, PORT_FORWARD_CONNECT_TIMEOUT_MS, PortForwardError, type PortForwardOptions } from "./portforward-api.ts";
export { parseForwardTarget, type PortForwardLookups, resolveForwardTarget } from "./portforward-target.ts";

export async function startPortForward(
  ctx: StreamContext,
  lookups: PortForwardLookups,
  target: string,
  remotePort: number,
  opts: PortForwardOptions = {},
): Promise<PortForward> {
  const wanted = checkForwardArguments(remotePort, opts);
  const pod = await resolveForwardTarget(lookups, target, remotePort, opts.namespace ?? "default");
  const session = new ForwardSession(ctx, lookups, pod, opts.connectTimeoutMs ?? PORT_FORWARD_CONNECT_TIMEOUT_MS, opts.onError);
  const { url, what } = session;

  // The tunnel where the API server offers it (Kubernetes 1.31+), else one WebSocket per connection.
  let bridge = bridgeTunnel;
  if (opts.transport === "websocket") bridge = bridgeWebSocket;
  else {
    try {
      session.tunnel = await session.openTunnel();
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
    void bridge(session, sock);
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
      session.closing = true;
      ctx.forwards?.delete(handle);
      const entries = [...session.open];
      server.close(() => resolve());
      session.tunnel?.close();
      for (const e of entries) {
        e.ws?.destroy();
        e.sock.destroy();
      }
      for (const sock of accepted) sock.destroy();
      session.open.clear();
    });
  const handle: PortForward = {
    localPort,
    pod,
    get lastError() {
      return session.lastError;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  ctx.forwards?.add(handle);
  return handle;
}
