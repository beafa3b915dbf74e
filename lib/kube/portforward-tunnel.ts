// One SPDY session tunnelled through one WebSocket to pods/<name>/portforward
// ("SPDY/3.1+portforward.k8s.io", served by API servers since Kubernetes
// 1.31 — real k3s v1.32 and the v1.35 test node). Each forwarded connection
// is two streams on it, as kubectl opens them: "error" (the server writes a
// failure message there) and "data" (the bytes), tied by a request id.
// A new connection costs one SYN_STREAM pair instead of a TLS handshake and
// an upgrade through the API server, and half-closes pass through (a FIN).
//
// SPDY/3.1 has per-stream flow control windows, but the Kubernetes side of
// the session (moby/spdystream) neither sends WINDOW_UPDATE nor enforces
// windows, so neither do we: backpressure is the WebSocket's TCP connection.

import { Buffer } from "node:buffer";
import {
  controlStreamId,
  dataFrame,
  dataFrameHeader,
  FLAG_FIN,
  goAwayFrame,
  HeaderCompressor,
  headerBlock,
  pingFrame,
  RST_CANCEL,
  RST_STATUS,
  rstStream,
  SPDY_TYPE,
  SpdyDecoder,
  synStream,
} from "./spdy.ts";
import { BufferPool } from "./buffer-pool.ts";
import type { CloseInfo, WebSocketConnection } from "./websocket.ts";

export const TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io";
const MAX_DATA_FRAME = 64 * 1024;
/**
 * Every connection shares the tunnel's one TCP connection, so waiting is
 * by amount, not by each write's `false`: a connection holds back when the
 * tunnel has this much queued, and holds the tunnel back when its own
 * client has this much unread (a net.Socket's `false` comes at 16 KiB, and
 * pausing 20 connections' shared tunnel at every 16 KiB serialises them).
 */
export const TUNNEL_HIGH_WATER = 1024 * 1024;

/** What a stream pair reports to its owner. */
export interface TunnelStreamEvents {
  /** Bytes from the pod: with the tunnel's `readsBorrowed`, a view valid only during the call. */
  data(bytes: Uint8Array): void;
  /** The pod side finished writing (FIN on the data stream). */
  end(): void;
  /** Both streams are done: `error` is the server's message, a reset, or the tunnel's loss. */
  done(error?: string): void;
}

export interface TunnelStream {
  /** Sends bytes to the pod; false means "wait for the tunnel's drain". */
  write(bytes: Uint8Array): boolean;
  /** Half-close: no more bytes to the pod. */
  end(): void;
  /** Abandons both streams (RST_STREAM CANCEL). */
  reset(): void;
}

interface Pair {
  errorId: number;
  dataId: number;
  events: TunnelStreamEvents;
  errorText: string;
  /** The error stream's text can arrive in pieces that split a character. */
  errorDecoder: TextDecoder | undefined;
  errorDone: boolean;
  dataDone: boolean;
  finished: boolean;
  sentFin: boolean;
  /** Bytes written before the server's SYN_REPLY for the data stream (sent once it comes). */
  pending: Uint8Array[] | undefined;
  pendingFin: boolean;
  clearTimer?: () => void;
}

export class PortForwardTunnel {
  #ws: WebSocketConnection;
  #decoder = new SpdyDecoder();
  #compressor = new HeaderCompressor();
  #nextStreamId = 1;
  #nextRequestId = 0;
  #byStream = new Map<number, Pair>();
  #lost: string | undefined;
  #pauses = 0;
  #drainWaiters = new Set<() => void>();
  /** Settles when the WebSocket is gone, with why. */
  readonly closed: Promise<CloseInfo>;
  /** Buffers for copies of borrowed bytes that wait in a local socket's queue (one TLS record each at most). */
  readonly copies = new BufferPool(16 * 1024, 128);

  constructor(ws: WebSocketConnection) {
    this.#ws = ws;
    // The session is a byte stream: WebSocket message boundaries mean nothing to it.
    ws.listen((bytes) => this.#receive(bytes), "bytes");
    this.closed = ws.closed.then((info) => {
      this.#lose(info.error ? `the tunnel through the API server was lost: ${info.error.message}` : `the tunnel through the API server was closed (${info.code}${info.reason ? ` ${info.reason}` : ""})`);
      return info;
    });
  }

  get isOpen(): boolean {
    return this.#lost === undefined && this.#ws.isOpen;
  }

  /** The bytes given to `data` are views of the WebSocket's reused read buffer (under Node): copy what is kept. */
  get readsBorrowed(): boolean {
    return this.#ws.readsBorrowed;
  }

  /** Why the tunnel is unusable, once it is. */
  get lostReason(): string | undefined {
    return this.#lost;
  }

  /**
   * Opens the error and data streams of one connection to `port`; if the
   * server has not answered them within `replyTimeoutMs`, the pair ends with
   * an error (a kubelet that lost the pod may never answer).
   */
  open(port: number, events: TunnelStreamEvents, replyTimeoutMs = 15_000): TunnelStream {
    if (this.#lost) throw new Error(this.#lost);
    const requestId = String(this.#nextRequestId++);
    const errorId = this.#nextStreamId;
    const dataId = this.#nextStreamId + 2;
    this.#nextStreamId += 4;
    const pair: Pair = {
      errorId,
      dataId,
      events,
      errorText: "",
      errorDecoder: undefined,
      errorDone: false,
      dataDone: false,
      finished: false,
      sentFin: false,
      pending: [],
      pendingFin: false,
    };
    this.#byStream.set(errorId, pair);
    this.#byStream.set(dataId, pair);
    const timer = setTimeout(() => {
      if (pair.pending && !pair.finished) {
        this.#ws.send(Buffer.concat([rstStream(dataId, RST_CANCEL), rstStream(errorId, RST_CANCEL)]));
        this.#finish(pair, `no answer to the new stream within ${replyTimeoutMs} ms`);
      }
    }, replyTimeoutMs);
    pair.clearTimer = () => clearTimeout(timer);
    const headers = (type: string) =>
      this.#compressor.compress(headerBlock([["port", String(port)], ["requestid", requestId], ["streamtype", type]]));
    // As kubectl does: both streams opened, then data only after the server
    // answered the data stream (the server drops data frames of a stream it
    // has not set up yet); our side of the error stream is closed at once.
    this.#ws.send(Buffer.concat([synStream(errorId, headers("error")), dataFrame(errorId, new Uint8Array(0), true), synStream(dataId, headers("data"))]));
    return {
      write: (bytes) => {
        if (pair.finished || pair.sentFin || this.#lost) return true;
        if (pair.pending) {
          pair.pending.push(Uint8Array.from(bytes));
          return pair.pending.length < 16;
        }
        this.#sendData(dataId, bytes);
        return this.#ws.bufferedAmount < TUNNEL_HIGH_WATER;
      },
      end: () => {
        if (pair.finished || pair.sentFin || this.#lost) return;
        if (pair.pending) {
          pair.pendingFin = true;
          return;
        }
        pair.sentFin = true;
        this.#ws.send(dataFrame(dataId, new Uint8Array(0), true));
      },
      reset: () => {
        if (pair.finished) return;
        if (!this.#lost) this.#ws.send(Buffer.concat([rstStream(dataId, RST_CANCEL), rstStream(errorId, RST_CANCEL)]));
        this.#finish(pair);
      },
    };
  }

  /** Calls `fn` once the tunnel's queue has been sent (one socket listener for every waiting connection). */
  onDrain(fn: () => void): void {
    if (this.#drainWaiters.size === 0) this.#ws.onDrain(() => this.#notifyDrain());
    this.#drainWaiters.add(fn);
  }

  #notifyDrain(): void {
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const w of waiters) w();
  }
  /** Stops reading from the tunnel until every pause() has its resume(). */
  pause(): void {
    if (this.#pauses++ === 0) this.#ws.pause();
  }
  resume(): void {
    if (this.#pauses > 0 && --this.#pauses === 0) this.#ws.resume();
  }

  /** Ends the session: every open connection ends with `reason`. */
  close(reason = "the port-forward was closed"): void {
    if (this.#ws.isOpen) {
      this.#ws.send(goAwayFrame(0));
      this.#ws.close();
    }
    this.#lose(reason);
  }

  #receive(bytes: Uint8Array): void {
    let frames;
    try {
      frames = this.#decoder.push(bytes);
    } catch (err) {
      this.#ws.destroy(err as Error);
      this.#lose(`the tunnel broke: ${(err as Error).message}`);
      return;
    }
    for (const f of frames) {
      if (!f.control) {
        const pair = this.#byStream.get(f.streamId);
        if (!pair) continue;
        if (f.streamId === pair.errorId) {
          pair.errorText += (pair.errorDecoder ??= new TextDecoder()).decode(f.data, { stream: !(f.flags & FLAG_FIN) });
          if (f.flags & FLAG_FIN) pair.errorDone = true;
        } else {
          if (f.data.length) pair.events.data(f.data);
          if (f.flags & FLAG_FIN) {
            pair.dataDone = true;
            pair.events.end();
          }
        }
        if (pair.errorDone && pair.dataDone) this.#finish(pair, pair.errorText.trim() || undefined);
        continue;
      }
      if (f.type === SPDY_TYPE.synReply || f.type === SPDY_TYPE.headers) {
        const pair = this.#byStream.get(controlStreamId(f.payload));
        if (pair && f.type === SPDY_TYPE.synReply && controlStreamId(f.payload) === pair.dataId && pair.pending) {
          // The data stream is set up: what was written meanwhile goes now, in order.
          const queued = pair.pending;
          pair.pending = undefined;
          pair.clearTimer?.();
          for (const bytes of queued) {
            this.#sendData(pair.dataId, bytes);
          }
          if (pair.pendingFin) {
            pair.sentFin = true;
            this.#ws.send(dataFrame(pair.dataId, new Uint8Array(0), true));
          }
          if (queued.length) this.#notifyDrain();
        }
        if (pair && f.flags & FLAG_FIN) {
          if (controlStreamId(f.payload) === pair.errorId) pair.errorDone = true;
          else {
            pair.dataDone = true;
            pair.events.end();
          }
          if (pair.errorDone && pair.dataDone) this.#finish(pair, pair.errorText.trim() || undefined);
        }
      } else if (f.type === SPDY_TYPE.rstStream) {
        const id = controlStreamId(f.payload);
        const pair = this.#byStream.get(id);
        const status = f.payload.length >= 8 ? new DataView(f.payload.buffer, f.payload.byteOffset + 4, 4).getUint32(0) : 0;
        if (pair) this.#finish(pair, pair.errorText.trim() || `the server reset the stream (${RST_STATUS[status] ?? status})`);
      } else if (f.type === SPDY_TYPE.ping) {
        // A ping from the server is answered with the same id.
        if (f.payload.length >= 4) this.#ws.send(pingFrame(new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0)));
      } else if (f.type === SPDY_TYPE.goaway) {
        this.#lose("the server ended the port-forward session (GOAWAY)");
      }
      // SETTINGS and WINDOW_UPDATE: nothing to do (see above).
    }
  }

  /** DATA frames of at most 64 KiB, each one WebSocket message (header and bytes copied once, into it). */
  #sendData(streamId: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i += MAX_DATA_FRAME) {
      const piece = bytes.subarray(i, i + MAX_DATA_FRAME);
      this.#ws.send(dataFrameHeader(streamId, piece.length), piece);
    }
  }

  #finish(pair: Pair, error?: string): void {
    if (pair.finished) return;
    pair.finished = true;
    pair.clearTimer?.();
    this.#byStream.delete(pair.errorId);
    this.#byStream.delete(pair.dataId);
    pair.events.done(error);
  }

  #lose(reason: string): void {
    if (this.#lost) return;
    this.#lost = reason;
    for (const pair of new Set(this.#byStream.values())) this.#finish(pair, pair.errorText.trim() || reason);
  }
}
