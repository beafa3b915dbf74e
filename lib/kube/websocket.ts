// A WebSocket client to the API server over `node:tls`, the same code under
// Bun, Deno and Node.
//
// Why not the runtime's WebSocket: Deno's cannot present a client
// certificate (denoland/deno#11846), and k3s authenticates clients by
// certificate; Node's (undici) takes no TLS options without undici's own
// dispatcher API; Bun's has a `tls` extension, but the `ws` package that
// @kubernetes/client-node uses hangs under Bun (oven-sh/bun#15093), and a
// third code path per runtime is what this module avoids. `node:tls` takes
// the CA, the client certificate and the key in all three runtimes, verifies
// the server (never turned off here), and gives a byte stream with
// backpressure (pause/resume, write() → false, "drain"); RFC 6455's client
// side on top of that is small (ws-frame.ts) and needs no package.

import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { isIP, type OnReadOpts } from "node:net";
import * as tls from "node:tls";
import { runtime } from "../runtime.ts";
import type { TlsMaterial } from "./transport.ts";
import { BufferPool } from "./buffer-pool.ts";
import { clientFrameLength, decodeClose, encodeClose, encodeFrame, type FramePiece, FramePieceDecoder, MessageAssembler, OPCODE } from "./ws-frame.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/**
 * Frames from this size up are encoded into reused buffers of POOLED_FRAME_BYTES
 * (a SPDY tunnel's 64 KiB DATA frame with its headers fits), given back when
 * the socket is done with them; smaller ones are not worth it.
 */
const POOLED_FRAME_MIN = 16 * 1024;
const POOLED_FRAME_BYTES = clientFrameLength(64 * 1024 + 64);
/** One TLS record's plaintext at most: what Node's TLS socket hands over per read. */
const READ_BUFFER_BYTES = 16 * 1024;

/** The server answered the upgrade with an HTTP status instead of 101 (e.g. 403, 404, 400). */
export class UpgradeRefusedError extends Error {
  constructor(readonly status: number, readonly body: string, readonly url: string) {
    super(`${url}: ${status} ${upgradeDetail(body)}`);
    this.name = "UpgradeRefusedError";
  }
}

/** A Kubernetes Status body's reason and message, or the body's start. */
function upgradeDetail(body: string): string {
  try {
    const s = JSON.parse(body) as { reason?: string; message?: string };
    const d = [s.reason, s.message].filter(Boolean).join(": ");
    if (d) return d;
  } catch { /* not JSON */ }
  return body.trim().slice(0, 300) || "(no body)";
}

export interface WebSocketConnectOptions {
  /** https:// URL of the endpoint. */
  url: string;
  /** Subprotocols in order of preference; the server must pick one of them. */
  protocols: string[];
  tls: TlsMaterial;
  headers?: Record<string, string>;
  /** Deadline for TCP + TLS + the upgrade answer. */
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * Under Node: the TLS socket reads into one reused buffer (its `onread`
   * option) instead of a new one per 16 KiB record, whose external memory
   * sets off V8's full collections; then what a "bytes" listener is given
   * is valid only during the call (see `readsBorrowed`). Bun and Deno read
   * as before.
   */
  reuseReadBuffer?: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** Set when the connection ended without a close handshake (reset, TLS error, protocol error). */
  error?: Error;
}

/** One open WebSocket. Messages arrive through `listen`; `closed` settles once the TLS socket is gone. */
export class WebSocketConnection {
  #socket: tls.TLSSocket;
  #decoder = new FramePieceDecoder();
  #frames: BufferPool | undefined;
  #closeSent = false;
  #closeInfo: CloseInfo | undefined;
  #resolveClosed!: (info: CloseInfo) => void;
  /** Settles (never rejects) when the connection is over, with how it ended. */
  readonly closed: Promise<CloseInfo>;
  #onData: ((data: Uint8Array, opcode: number) => void) | undefined;
  /** Set for listeners of whole messages; without it data goes out in pieces. */
  #messages: MessageAssembler | undefined;
  // Data that arrived before `listen` (e.g. right behind the upgrade answer).
  #early: FramePiece[] = [];

  /**
   * `readFrom` routes the socket's bytes to a function; with `readsBorrowed`
   * they are views of a buffer the socket reuses once that function returns.
   */
  constructor(socket: tls.TLSSocket, readonly protocol: string, rest: Uint8Array, readFrom: (fn: (chunk: Uint8Array) => void) => void, readonly readsBorrowed = false) {
    this.#socket = socket;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    readFrom((chunk) => this.#receive(chunk));
    socket.on("error", (err: Error) => this.#finish({ code: 1006, reason: "", error: err }));
    socket.on("end", () => {
      // The server's FIN: after its close frame that is the normal end.
      if (!this.#closeInfo) this.#finish({ code: 1006, reason: "", error: new Error("the server closed the connection without a WebSocket close frame") });
      socket.end();
    });
    socket.on("close", () => this.#finish({ code: 1006, reason: "", error: new Error("connection closed") }));
    if (rest.length > 0) this.#receive(rest);
  }

  /**
   * Delivers every data message, those that came before this call first.
   * With `bytes`, a message's payload goes out in the pieces it arrived in
   * (views, no copy): for a byte stream carried in messages whose
   * boundaries mean nothing, as the SPDY tunnel's.
   */
  listen(fn: (data: Uint8Array, opcode: number) => void, mode: "messages" | "bytes" = "messages"): void {
    this.#onData = fn;
    this.#messages = mode === "messages" ? new MessageAssembler() : undefined;
    for (const p of this.#early.splice(0)) this.#deliver(p);
  }

  #receive(chunk: Uint8Array): void {
    let pieces: FramePiece[];
    try {
      pieces = this.#decoder.push(chunk);
    } catch (err) {
      return this.#protocolError(err as Error);
    }
    for (const p of pieces) {
      if (this.#closeInfo) return;
      if (p.opcode === OPCODE.ping) this.#write(OPCODE.pong, p.data);
      else if (p.opcode === OPCODE.pong) continue;
      else if (p.opcode === OPCODE.close) {
        const { code, reason } = decodeClose(p.data);
        if (!this.#closeSent) this.#write(OPCODE.close, p.data.subarray(0, 2));
        this.#closeSent = true;
        this.#finish({ code, reason });
        this.#socket.end();
      } else if (this.#onData) this.#deliver(p);
      else this.#early.push(this.#kept(p));
    }
  }

  #deliver(p: FramePiece): void {
    if (!this.#messages) {
      if (p.data.length > 0) this.#onData!(p.data, p.opcode);
      return;
    }
    let message: Uint8Array | undefined;
    try {
      // The assembler keeps pieces until their message is whole: borrowed ones are copied first.
      message = this.#messages.add(this.#kept(p));
    } catch (err) {
      return this.#protocolError(err as Error);
    }
    if (message) this.#onData!(message, p.opcode);
  }

  /** `p` as it may be kept past this call: a copy when its bytes are borrowed (see readsBorrowed). */
  #kept(p: FramePiece): FramePiece {
    return this.readsBorrowed ? { ...p, data: p.data.slice() } : p;
  }

  #protocolError(err: Error): void {
    this.#finish({ code: 1002, reason: "", error: err });
    this.#socket.destroy();
  }

  #finish(info: CloseInfo): void {
    if (this.#closeInfo) return;
    this.#closeInfo = info;
    this.#resolveClosed(info);
  }

  #write(opcode: number, payload: Uint8Array, rest?: Uint8Array): boolean {
    if (this.#socket.destroyed || !this.#socket.writable) return false;
    const total = clientFrameLength(payload.length + (rest?.length ?? 0));
    if (total < POOLED_FRAME_MIN || total > POOLED_FRAME_BYTES) return this.#socket.write(encodeFrame(opcode, payload, maskKey(), rest));
    // The write's callback comes once the socket no longer needs the bytes: the buffer goes back then.
    const pool = this.#frames ??= new BufferPool(POOLED_FRAME_BYTES, 32);
    const buf = pool.take();
    return this.#socket.write(encodeFrame(opcode, payload, maskKey(), rest, buf), () => pool.give(buf));
  }

  /** Sends one binary message (`data`, then `rest` if given); false means "wait for onDrain before sending more". */
  send(data: Uint8Array, rest?: Uint8Array): boolean {
    if (this.#closeSent || this.#closeInfo) return false;
    return this.#write(OPCODE.binary, data, rest);
  }

  /** Bytes queued for the server and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /** Calls `fn` once the socket's write buffer has drained. */
  onDrain(fn: () => void): void {
    this.#socket.once("drain", fn);
  }

  /** Stops/starts reading from the server (backpressure toward a slow consumer). */
  pause(): void {
    this.#socket.pause();
  }
  resume(): void {
    this.#socket.resume();
  }

  get isOpen(): boolean {
    return !this.#closeInfo && !this.#closeSent;
  }

  /** Starts the close handshake; the socket is destroyed if the server does not answer within `graceMs`. */
  close(code = 1000, reason = "", graceMs = 1_000): void {
    if (this.#closeInfo) {
      this.#socket.destroy();
      return;
    }
    if (!this.#closeSent) {
      this.#closeSent = true;
      this.#write(OPCODE.close, encodeClose(code, reason));
    }
    const timer = setTimeout(() => {
      this.#finish({ code: 1006, reason: "", error: new Error("the server did not answer the close frame") });
      this.#socket.destroy();
    }, graceMs);
    this.closed.then(() => {
      clearTimeout(timer);
      this.#socket.destroy();
    });
  }

  /** Drops the connection at once (no close handshake). */
  destroy(error?: Error): void {
    this.#finish({ code: 1006, reason: "", error: error ?? new Error("connection destroyed") });
    this.#socket.destroy();
  }
}

// Masking keys come from the CSPRNG (RFC 6455 §5.3: unpredictable), drawn
// 4 KiB at a time rather than one call per frame.
let keyPool = new Uint8Array(0);
let keyPos = 0;
function maskKey(): Uint8Array {
  if (keyPos + 4 > keyPool.length) {
    keyPool = new Uint8Array(randomBytes(4096));
    keyPos = 0;
  }
  keyPos += 4;
  return keyPool.subarray(keyPos - 4, keyPos);
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** Parses a response head (status line and headers, lower-cased names). */
export function parseResponseHead(head: string): { status: number; headers: Record<string, string> } {
  const lines = head.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(m[1]), headers };
}

/**
 * Opens a TLS connection (the server verified against `tls.ca`, the client
 * certificate presented), sends the upgrade request and returns the open
 * WebSocket, or throws: UpgradeRefusedError with the server's Status, or the
 * TLS/connection error, or a deadline error.
 */
export function connectWebSocket(opts: WebSocketConnectOptions): Promise<WebSocketConnection> {
  const u = new URL(opts.url);
  if (u.protocol !== "https:") throw new Error(`connectWebSocket: ${opts.url}: only https:// API servers are supported`);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = u.port ? Number(u.port) : 443;
  const key = randomBytes(16).toString("base64");
  const borrow = opts.reuseReadBuffer === true && runtime === "node";
  // Whoever reads the socket now: the upgrade answer's parser, then the connection.
  let reader: (chunk: Uint8Array) => void = () => {};
  const onread: OnReadOpts | undefined = borrow
    ? {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (n, buf) => {
        reader(buf.subarray(0, n));
        return true; // reading stops through pause() instead
      },
    }
    : undefined;
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = tls.connect({
      host,
      port,
      // SNI carries names only (RFC 6066); an IP is checked against the certificate's IP SANs.
      servername: isIP(host) ? undefined : host,
      checkServerIdentity: (_name: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(host, cert),
      ca: opts.tls.ca,
      cert: opts.tls.cert,
      key: opts.tls.key,
      rejectUnauthorized: true,
      ALPNProtocols: ["http/1.1"],
      ...(onread ? { onread } : {}),
    } as tls.ConnectionOptions);
    socket.setNoDelay(true);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`no WebSocket upgrade answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const onAbort = () => fail(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error("aborted"));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    socket.on("error", fail);
    socket.once("secureConnect", () => {
      const lines = [
        `GET ${u.pathname}${u.search} HTTP/1.1`,
        `Host: ${u.host}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13",
        `Sec-WebSocket-Protocol: ${opts.protocols.join(", ")}`,
        "User-Agent: k3sbox",
        ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(lines.join("\r\n") + "\r\n\r\n");
    });

    let buf = Buffer.alloc(0);
    let refused: { status: number; headers: Record<string, string>; body: Buffer } | undefined;
    const onData = (chunk: Uint8Array) => {
      if (refused) {
        refused.body = Buffer.concat([refused.body, chunk]);
        return maybeRefusalDone();
      }
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) fail(new Error("the upgrade answer's head is too long"));
        return;
      }
      let head;
      try {
        head = parseResponseHead(buf.subarray(0, end).toString("latin1"));
      } catch (err) {
        return fail(err as Error);
      }
      const rest = buf.subarray(end + 4);
      if (head.status !== 101) {
        refused = { ...head, body: rest };
        return maybeRefusalDone();
      }
      if (head.headers["sec-websocket-accept"] !== acceptKey(key)) return fail(new Error("the server's Sec-WebSocket-Accept does not match our key"));
      const protocol = head.headers["sec-websocket-protocol"] ?? "";
      if (!opts.protocols.includes(protocol)) {
        return fail(new Error(`the server chose subprotocol ${JSON.stringify(protocol)}; asked for ${opts.protocols.join(", ")}`));
      }
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      socket.off("error", fail);
      socket.off("end", onEnd);
      if (borrow) return resolve(new WebSocketConnection(socket, protocol, new Uint8Array(rest), (fn) => (reader = fn), true));
      socket.off("data", onData);
      resolve(new WebSocketConnection(socket, protocol, new Uint8Array(rest), (fn) => socket.on("data", fn)));
    };
    // A refusal's body is read to its Content-Length (or the connection's end) for the Status message.
    const maybeRefusalDone = (ended = false) => {
      if (!refused) return;
      const len = Number(refused.headers["content-length"] ?? NaN);
      if (ended || refused.body.length >= Math.min(Number.isFinite(len) ? len : Infinity, MAX_ERROR_BODY_BYTES)) {
        fail(new UpgradeRefusedError(refused.status, refused.body.toString("utf8"), opts.url));
      }
    };
    const onEnd = () => {
      if (refused) maybeRefusalDone(true);
      else fail(new Error("the server closed the connection before answering the upgrade"));
    };
    if (borrow) reader = onData;
    else socket.on("data", onData);
    socket.on("end", onEnd);
  });
}
