// WebSocket framing (RFC 6455), client side: pure functions, no I/O.
// Frames we send are masked (a client must mask); frames we receive are not.
// Fragmented messages are reassembled; control frames may arrive between
// fragments. See websocket.ts for the connection that uses them.

import { Buffer } from "node:buffer";
import { joinBytes } from "../bytes.ts";
import { ByteQueue } from "./byte-queue.ts";

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** The bytes of a client frame (header with its mask key, then the payload) for a payload of `len` bytes. */
export function clientFrameLength(len: number): number {
  return 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + 4 + len;
}

/**
 * Encodes one final (FIN) frame, masked with `maskKey` (4 random bytes). The
 * payload is `payload` followed by `rest` when given (one copy for a header
 * and its data, e.g. a SPDY frame header and the bytes it carries). Written
 * into the start of `into` when given (it must hold clientFrameLength bytes),
 * else into a new buffer.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, maskKey: Uint8Array, rest?: Uint8Array, into?: Uint8Array): Uint8Array {
  const len = payload.length + (rest?.length ?? 0);
  const total = clientFrameLength(len);
  if (into && into.length < total) throw new RangeError(`a frame of ${total} bytes does not fit in ${into.length}`);
  const out = into ? into.subarray(0, total) : Buffer.allocUnsafe(total);
  out[0] = 0x80 | opcode;
  let o = 2;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out[2] = len >>> 8;
    out[3] = len & 0xff;
    o = 4;
  } else {
    out[1] = 0x80 | 127;
    const hi = Math.floor(len / 2 ** 32);
    for (let i = 0; i < 4; i++) {
      out[2 + i] = (hi >>> (24 - 8 * i)) & 0xff;
      out[6 + i] = (len >>> (24 - 8 * i)) & 0xff;
    }
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
    const k32 = key[i & 3] | (key[(i + 1) & 3] << 8) | (key[(i + 2) & 3] << 16) | (key[(i + 3) & 3] << 24);
    // Signed words and four per turn: twice the speed of one Uint32 a turn under V8 and JSC.
    const words = new Int32Array(data.buffer, data.byteOffset + i, (n - i) >>> 2);
    const count = words.length;
    let w = 0;
    for (; w + 4 <= count; w += 4) {
      words[w] ^= k32;
      words[w + 1] ^= k32;
      words[w + 2] ^= k32;
      words[w + 3] ^= k32;
    }
    for (; w < count; w++) words[w] ^= k32;
    i += count << 2;
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
 * A piece of what the server sent: part of a data message's payload (a view
 * of the bytes as they arrived, not a copy), or a whole control frame.
 */
export interface FramePiece {
  /** The message's opcode (text or binary) for data, else the control frame's. */
  opcode: number;
  data: Uint8Array;
  /** The message's (or control frame's) last piece. */
  last: boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * Incremental decoder of server frames that copies no payload: `push` bytes
 * as they arrive and get back data messages in the pieces they arrived in
 * (a byte-stream protocol on top, such as the SPDY tunnel, needs nothing
 * more) and each control frame whole.
 */
export class FramePieceDecoder {
  #queue = new ByteQueue();
  /** Opcode of the data message in progress; -1 between messages. */
  #messageOpcode = -1;
  /** Payload bytes of the current data frame still to come; -1 between frames. */
  #frameLeft = -1;
  #frameFin = false;

  push(chunk: Uint8Array): FramePiece[] {
    this.#queue.push(chunk);
    const out: FramePiece[] = [];
    while (true) {
      if (this.#frameLeft > 0) {
        if (this.#queue.length === 0) break;
        const piece = this.#queue.take(this.#frameLeft);
        this.#frameLeft -= piece.length;
        out.push({ opcode: this.#messageOpcode, data: piece, last: this.#frameLeft === 0 && this.#frameFin });
        if (this.#frameLeft === 0) this.#endFrame();
        continue;
      }
      if (!this.#header(out)) break;
    }
    // What is left (a header's start) is kept as a copy: the caller may reuse its buffer.
    this.#queue.detach();
    return out;
  }

  #endFrame(): void {
    this.#frameLeft = -1;
    if (this.#frameFin) this.#messageOpcode = -1;
  }

  /** Reads one frame header (and a control frame whole); false when the bytes are not there yet. */
  #header(out: FramePiece[]): boolean {
    const q = this.#queue;
    if (q.length < 2) return false;
    const head = q.peek(Math.min(q.length, 10));
    const fin = (head[0] & 0x80) !== 0;
    if ((head[0] & 0x70) !== 0) throw new WebSocketProtocolError("reserved bits set (no extension was negotiated)");
    const opcode = head[0] & 0x0f;
    if ((head[1] & 0x80) !== 0) throw new WebSocketProtocolError("the server sent a masked frame");
    let len = head[1] & 0x7f;
    let o = 2;
    if (len === 126) {
      if (head.length < 4) return false;
      len = (head[2] << 8) | head[3];
      o = 4;
    } else if (len === 127) {
      if (head.length < 10) return false;
      const hi = ((head[2] << 24) | (head[3] << 16) | (head[4] << 8) | head[5]) >>> 0;
      const lo = ((head[6] << 24) | (head[7] << 16) | (head[8] << 8) | head[9]) >>> 0;
      if (hi > 0x1fffff) throw new WebSocketProtocolError("frame length beyond 2^53");
      len = hi * 2 ** 32 + lo;
      o = 10;
    }
    if (opcode >= 0x8) {
      if (!fin) throw new WebSocketProtocolError("fragmented control frame");
      if (len > 125) throw new WebSocketProtocolError(`control frame of ${len} bytes (at most 125)`);
      if (q.length < o + len) return false;
      q.skip(o);
      out.push({ opcode, data: q.takeWhole(len), last: true });
      return true;
    }
    if (opcode === OPCODE.continuation) {
      if (this.#messageOpcode < 0) throw new WebSocketProtocolError("continuation frame without a message to continue");
    } else {
      if (this.#messageOpcode >= 0) throw new WebSocketProtocolError("new message before the previous one was complete");
      if (opcode !== OPCODE.text && opcode !== OPCODE.binary) throw new WebSocketProtocolError(`unknown opcode ${opcode}`);
      this.#messageOpcode = opcode;
    }
    q.skip(o);
    this.#frameLeft = len;
    this.#frameFin = fin;
    if (len === 0) {
      // An empty frame: only its FIN says anything (some servers end every message with one).
      if (fin) out.push({ opcode: this.#messageOpcode, data: EMPTY, last: true });
      this.#endFrame();
    }
    return true;
  }
}

/** Puts data messages back together from their pieces: a single piece as it is, several joined. */
export class MessageAssembler {
  #parts: Uint8Array[] = [];
  #bytes = 0;

  constructor(private readonly maxMessageBytes = 64 * 1024 * 1024) {}

  /** The whole message once `piece` was its last, else undefined. */
  add(piece: FramePiece): Uint8Array | undefined {
    if (piece.data.length > 0) {
      this.#parts.push(piece.data);
      this.#bytes += piece.data.length;
      if (this.#bytes > this.maxMessageBytes) throw new WebSocketProtocolError(`message larger than ${this.maxMessageBytes} bytes`);
    }
    if (!piece.last) return undefined;
    const parts = this.#parts;
    this.#parts = [];
    this.#bytes = 0;
    return parts.length === 1 ? parts[0] : joinBytes(parts);
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
