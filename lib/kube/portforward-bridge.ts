// One accepted local connection carried to the pod, by either transport:
// its own v4.channel.k8s.io WebSocket, or a stream pair on the forward's
// shared SPDY tunnel. Both pass back-pressure on in each direction and turn
// a pod that went away into an error rather than an end of stream.

import type { Socket } from "node:net";
import { parseChannelMessage, PORT_FORWARD_PROTOCOL } from "./channels.ts";
import { PortForwardError } from "./portforward-api.ts";
import type { ForwardSession, OpenConnection } from "./portforward-session.ts";
import { type PortForwardTunnel, TUNNEL_HIGH_WATER } from "./portforward-tunnel.ts";
import { connectWebSocket, UpgradeRefusedError, type WebSocketConnection } from "./websocket.ts";

/** v4 port-forward: channel 0 carries the data (its first byte on every message we send). */
const DATA_CHANNEL = Uint8Array.of(0);

/** v4.channel.k8s.io: one WebSocket per connection (for API servers without the SPDY tunnel). */
export async function bridgeWebSocket(session: ForwardSession, sock: Socket): Promise<void> {
  const { ctx, url, meta, what, pod, connectTimeoutMs, open } = session;
  const entry: OpenConnection = { sock };
  open.add(entry);
  sock.on("error", () => {}); // its errors end it; the close handler below cleans up
  const seq = ctx.recorder.begin("GET", url);
  ctx.recorder.annotate(seq, { kind: "kube", ...meta });
  const fail = (message: string, cause?: unknown) => {
    const err = new PortForwardError(`${what}: ${message}`, { cause });
    ctx.recorder.end(seq, { error: message });
    session.report(err);
    sock.destroy(err);
    open.delete(entry);
  };
  let ws: WebSocketConnection;
  try {
    const abort = new AbortController();
    sock.once("close", () => abort.abort(new Error("the local client closed the connection")));
    ws = await connectWebSocket({ url: `${url}?ports=${pod.port}`, protocols: [PORT_FORWARD_PROTOCOL], tls: ctx.tls, headers: ctx.headers, timeoutMs: connectTimeoutMs, signal: abort.signal });
  } catch (err) {
    if (sock.destroyed && !session.closing) return void (ctx.recorder.end(seq, { error: "the local client left before the upgrade" }), open.delete(entry));
    if (err instanceof UpgradeRefusedError) ctx.recorder.end(seq, { status: err.status });
    return fail((err as Error).message.replace(`${url}: `, ""), err);
  }
  if (session.closing) {
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
  if (sock.destroyed || session.closing) {
    // We (or the local client) ended it.
    ctx.recorder.end(seq, { status: 101 });
    open.delete(entry);
    if (session.closing) sock.destroy();
    return;
  }
  if (errorText.trim()) return fail(errorText.trim());
  if (ended.error) {
    const gone = await session.podGone();
    return fail(gone ?? `the connection through the API server was lost: ${ended.error.message}`, ended.error);
  }
  // The pod side closed. If the pod is going away that is an error, not an end of stream.
  const gone = await session.podGone();
  if (gone) return fail(gone);
  ctx.recorder.end(seq, { status: 101 });
  open.delete(entry);
  sock.end();
}

/** SPDY/3.1+portforward.k8s.io: each connection is a stream pair on the shared tunnel. */
export async function bridgeTunnel(session: ForwardSession, sock: Socket): Promise<void> {
  const { url, what, pod, connectTimeoutMs, open } = session;
  const entry: OpenConnection = { sock };
  open.add(entry);
  sock.on("error", () => {});
  const fail = (message: string, cause?: unknown) => {
    const err = new PortForwardError(`${what}: ${message}`, { cause });
    session.report(err);
    sock.destroy(err);
    open.delete(entry);
  };
  let t: PortForwardTunnel;
  try {
    t = await session.currentTunnel();
  } catch (err) {
    return fail((err as Error).message.replace(`${url}: `, ""), err);
  }
  if (session.closing || sock.destroyed) return void (sock.destroy(), open.delete(entry));
  let localEnded = false;
  let waitingLocal = false;
  let waitingRemote = false;
  // Borrowed bytes (see readsBorrowed) wait in the socket's queue as copies in pooled buffers, given back once written.
  const pool = t.copies;
  const writeLocal = !t.readsBorrowed ? (bytes: Uint8Array) => sock.write(bytes) : (bytes: Uint8Array) => {
    if (bytes.length > pool.size) return sock.write(bytes.slice());
    const own = pool.take();
    own.set(bytes);
    return sock.write(own.subarray(0, bytes.length), () => pool.give(own));
  };
  const stream = t.open(pod.port, {
    data: (bytes) => {
      writeLocal(bytes);
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
      if (session.closing || sock.destroyed) return void (sock.destroy(), open.delete(entry));
      // A pod that is gone or going ends the tunnel too: the next connection
      // dials again and hears "not found" at once instead of waiting on a dead session.
      if (error) {
        const gone = await session.podGone();
        if (gone) t.close(gone);
        return fail(gone ? `${gone} (${error})` : error);
      }
      // The pod side finished on its own, before our client: if the pod is going away that is an error.
      if (!localEnded) {
        const gone = await session.podGone();
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
}
