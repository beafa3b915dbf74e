// WebSocket framing (RFC 6455), client side: pure functions, no I/O.
// Frames we send are masked (a client must mask); frames we receive are not.
// Fragmented messages are reassembled; control frames may arrive between
// fragments. See websocket.ts for the connection that uses them.

import { Buffer } from "node:buffer";
import { joinBytes } from "../bytes.ts";

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** A whole message (data) or a control frame, as received. */
export interface Frame {
  opcode: number;
  payload: Uint8Array;
}

/**
 * Encodes one final (FIN) frame, masked with `maskKey` (4 random bytes). The
 * payload is `payload` followed by `rest` when given (one copy for a header
 * and its data, e.g. a SPDY frame header and the bytes it carries).
 */
export function encodeFrame(opcode: number, payload: Uint8Array, maskKey: Uint8Array, rest?: Uint8Array): Uint8Array {
  const len = payload.length + (rest?.length ?? 0);
  const headerLen = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + 4;
  const out = Buffer.allocUnsafe(headerLen + len);
  out[0] = 0x80 | opcode;
  let o = 2;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
    o = 4;
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
    o = 10;
  }
  out.set(maskKey, o);
  o += 4;
  out.set(payload, o);
  if (rest) out.set(rest, o + payload.length);
  mask(out.subarray(o), maskKey);
  return out;
}

/** XORs `data` in place with the 4-byte key: a word at a time from the first 4-byte-aligned byte. */
export function mask(data: Uint8Array, key: Uint8Array): void {
  const n = data.length;
  let i = 0;
  // Bytes up to the first aligned address one by one (a frame's payload sits at offset 6, 8 or 14).
  while (i < n && ((data.byteOffset + i) & 3) !== 0) {
    data[i] ^= key[i & 3];
    i++;
  }
  if (n - i >= 4) {
    // The key as a little-endian word, rotated to start at byte i (the machines we run on are little-endian).
    const k32 = (key[i & 3] | (key[(i + 1) & 3] << 8) | (key[(i + 2) & 3] << 16) | (key[(i + 3) & 3] << 24)) >>> 0;
    const words = new Uint32Array(data.buffer, data.byteOffset + i, (n - i) >>> 2);
    for (let w = 0; w < words.length; w++) words[w] ^= k32;
    i += words.length << 2;
  }
  for (; i < n; i++) data[i] ^= key[i & 3];
}

export class WebSocketProtocolError extends Error {
  constructor(message: string) {
    super(`WebSocket protocol error: ${message}`);
    this.name = "WebSocketProtocolError";
  }
}

/**
 * Incremental decoder of server frames: `push` bytes as they arrive and get
 * back every frame completed so far (data frames as whole messages).
 */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = -1;
  #fragmentBytes = 0;

  constructor(private readonly maxMessageBytes = 64 * 1024 * 1024) {}

  push(chunk: Uint8Array): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const out: Frame[] = [];
    while (true) {
      const frame = this.#next();
      if (!frame) break;
      if (frame.opcode >= 0x8) {
        if (!frame.fin) throw new WebSocketProtocolError("fragmented control frame");
        out.push({ opcode: frame.opcode, payload: frame.payload });
        continue;
      }
      if (frame.opcode === OPCODE.continuation) {
        if (this.#fragmentOpcode < 0) throw new WebSocketProtocolError("continuation frame without a message to continue");
      } else {
        if (this.#fragmentOpcode >= 0) throw new WebSocketProtocolError("new message before the previous one was complete");
        if (frame.opcode !== OPCODE.text && frame.opcode !== OPCODE.binary) throw new WebSocketProtocolError(`unknown opcode ${frame.opcode}`);
        if (frame.fin) {
          out.push({ opcode: frame.opcode, payload: frame.payload });
          continue;
        }
        this.#fragmentOpcode = frame.opcode;
      }
      this.#fragments.push(frame.payload);
      this.#fragmentBytes += frame.payload.length;
      if (this.#fragmentBytes > this.maxMessageBytes) throw new WebSocketProtocolError(`message larger than ${this.maxMessageBytes} bytes`);
      if (frame.fin) {
        out.push({ opcode: this.#fragmentOpcode, payload: joinBytes(this.#fragments) });
        this.#fragments = [];
        this.#fragmentBytes = 0;
        this.#fragmentOpcode = -1;
      }
    }
    return out;
  }

  /** One raw frame off the buffer, or undefined when it is not complete yet. */
  #next(): { fin: boolean; opcode: number; payload: Uint8Array } | undefined {
    if (this.#buffered < 2) return undefined;
    const head = this.#peek(Math.min(this.#buffered, 14));
    const fin = (head[0] & 0x80) !== 0;
    if ((head[0] & 0x70) !== 0) throw new WebSocketProtocolError("reserved bits set (no extension was negotiated)");
    const opcode = head[0] & 0x0f;
    const masked = (head[1] & 0x80) !== 0;
    if (masked) throw new WebSocketProtocolError("the server sent a masked frame");
    let len = head[1] & 0x7f;
    let o = 2;
    if (len === 126) {
      if (head.length < 4) return undefined;
      len = (head[2] << 8) | head[3];
      o = 4;
    } else if (len === 127) {
      if (head.length < 10) return undefined;
      const hi = ((head[2] << 24) | (head[3] << 16) | (head[4] << 8) | head[5]) >>> 0;
      const lo = ((head[6] << 24) | (head[7] << 16) | (head[8] << 8) | head[9]) >>> 0;
      if (hi > 0x1fffff) throw new WebSocketProtocolError("frame length beyond 2^53");
      len = hi * 2 ** 32 + lo;
      o = 10;
    }
    if (len > this.maxMessageBytes) throw new WebSocketProtocolError(`frame larger than ${this.maxMessageBytes} bytes`);
    if (this.#buffered < o + len) return undefined;
    const all = this.#take(o + len);
    return { fin, opcode, payload: all.subarray(o) };
  }

  #peek(n: number): Uint8Array {
    if (this.#chunks[0].length >= n) return this.#chunks[0].subarray(0, n);
    return this.#gather(n).subarray(0, n);
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0].length >= n ? this.#chunks[0] : this.#gather(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#buffered -= n;
    return out;
  }

  /** Joins the leading chunks until the first holds at least `n` bytes (copying only those). */
  #gather(n: number): Uint8Array {
    let count = 0;
    let bytes = 0;
    while (bytes < n) bytes += this.#chunks[count++].length;
    const joined = joinBytes(this.#chunks.slice(0, count));
    this.#chunks.splice(0, count, joined);
    return joined;
  }
}

/** The payload of a close frame: a status code and a reason. */
export function encodeClose(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, 123);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

export function decodeClose(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: "" };
  return { code: (payload[0] << 8) | payload[1], reason: new TextDecoder().decode(payload.subarray(2)) };
}
