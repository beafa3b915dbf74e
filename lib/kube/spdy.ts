// SPDY/3.1 framing, client side, as much as port-forwarding needs (pure, no
// I/O). kubectl ≥ 1.31 carries a SPDY session inside one WebSocket to the
// API server ("SPDY/3.1+portforward.k8s.io"), which relays it to the
// kubelet/CRI streaming server; every forwarded connection is then a pair of
// SPDY streams (error + data) on that one session instead of a new TLS
// connection and upgrade. See portforward-tunnel.ts.
//
// Frames (SPDY/3 draft, §2.2):
//   control: 1 bit 1 | 15 bits version (3) | 16 bits type | 8 bits flags | 24 bits length | payload
//   data:    1 bit 0 | 31 bits stream id   | 8 bits flags | 24 bits length | data
// Header blocks are zlib streams. We send ours *stored* (deflate's
// uncompressed block type) and without a preset dictionary: a valid zlib
// stream that any inflater reads (the dictionary is needed only to read a
// stream that was compressed with it). We never read the server's header
// blocks (its SYN_REPLYs carry nothing port-forwarding needs), so no inflater.

import { Buffer } from "node:buffer";
import { joinBytes } from "../bytes.ts";
import { ByteQueue } from "./byte-queue.ts";

export const SPDY_VERSION = 3;
export const SPDY_TYPE = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goaway: 7, headers: 8, windowUpdate: 9 } as const;
export const FLAG_FIN = 0x01;
/** RST_STREAM status codes we send or name. */
export const RST_STATUS: Record<number, string> = {
  1: "PROTOCOL_ERROR",
  2: "INVALID_STREAM",
  3: "REFUSED_STREAM",
  4: "UNSUPPORTED_VERSION",
  5: "CANCEL",
  6: "INTERNAL_ERROR",
  7: "FLOW_CONTROL_ERROR",
  8: "STREAM_IN_USE",
  9: "STREAM_ALREADY_CLOSED",
  11: "FRAME_TOO_LARGE",
};
export const RST_CANCEL = 5;
const MAX_FRAME_LENGTH = 0xffffff;

/**
 * A control frame (whole), or a piece of a DATA frame: its payload comes in
 * the pieces it arrived in (views, not copies), the frame's flags on the
 * last (a FIN ends the stream only after every byte of its frame).
 */
export type SpdyFrame =
  | { control: true; type: number; flags: number; payload: Uint8Array }
  | { control: false; streamId: number; flags: number; data: Uint8Array };

function controlFrame(type: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  out.writeUInt16BE(type, 2);
  out.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  out.set(payload, 8);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A DATA frame (at most 16 MiB - 1 of data). */
export function dataFrame(streamId: number, data: Uint8Array, fin = false): Uint8Array {
  if (data.length > MAX_FRAME_LENGTH) throw new RangeError(`SPDY data frame of ${data.length} bytes (at most ${MAX_FRAME_LENGTH})`);
  const out = Buffer.allocUnsafe(8 + data.length);
  out.writeUInt32BE(streamId & 0x7fffffff, 0);
  out.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24 | data.length) >>> 0, 4);
  out.set(data, 8);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A DATA frame's 8-byte header alone, for `length` bytes that follow it. */
export function dataFrameHeader(streamId: number, length: number, fin = false): Uint8Array {
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`SPDY data frame of ${length} bytes (at most ${MAX_FRAME_LENGTH})`);
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, streamId & 0x7fffffff);
  v.setUint32(4, ((fin ? FLAG_FIN : 0) << 24 | length) >>> 0);
  return out;
}

/** Name/value pairs as SPDY/3's uncompressed header block (32-bit counts and lengths). Names must be lowercase. */
export function headerBlock(pairs: [string, string][]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  parts.push(u32(pairs.length));
  for (const [name, value] of pairs) {
    if (name !== name.toLowerCase()) throw new Error(`SPDY header names are lowercase; got ${JSON.stringify(name)}`);
    const n = enc.encode(name);
    const v = enc.encode(value);
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return joinBytes(parts);
}

/**
 * The sending side of a session's header compression: one zlib stream over
 * all header blocks of the session. The first block starts with the zlib
 * header (0x78 0x01: deflate, 32 KiB window, no dictionary); each block is
 * non-final stored deflate block followed by an empty one (the sync-flush
 * marker), so the receiver can decode every block as soon as it arrives.
 */
export class HeaderCompressor {
  #started = false;

  compress(block: Uint8Array): Uint8Array {
    const parts: number[] = [];
    if (!this.#started) {
      parts.push(0x78, 0x01);
      this.#started = true;
    }
    const out: Uint8Array[] = [Uint8Array.from(parts)];
    for (let i = 0; i < block.length || i === 0; i += 0xffff) {
      const piece = block.subarray(i, i + 0xffff);
      const len = piece.length;
      // BFINAL 0, BTYPE 00 (stored), padded to the byte; LEN, NLEN little-endian.
      out.push(Uint8Array.of(0x00, len & 0xff, len >> 8, ~len & 0xff, (~len >> 8) & 0xff), piece);
      if (block.length === 0) break;
    }
    // An empty stored block, as a sync flush ends with: Go's inflater hands
    // out a stored block's bytes only when it reaches the next block header,
    // which must therefore lie inside this frame (it reads no further).
    out.push(Uint8Array.of(0x00, 0x00, 0x00, 0xff, 0xff));
    return joinBytes(out);
  }
}

/** SYN_STREAM: a new stream with its (already compressed) header block. */
export function synStream(streamId: number, compressedHeaders: Uint8Array, flags = 0): Uint8Array {
  const p = new Uint8Array(10 + compressedHeaders.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, streamId & 0x7fffffff);
  v.setUint32(4, 0); // associated-to-stream-id
  p[8] = 0; // priority 0 (highest), unused bits
  p[9] = 0; // slot
  p.set(compressedHeaders, 10);
  return controlFrame(SPDY_TYPE.synStream, flags, p);
}

export function rstStream(streamId: number, status: number): Uint8Array {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, streamId & 0x7fffffff);
  v.setUint32(4, status);
  return controlFrame(SPDY_TYPE.rstStream, 0, p);
}

export function pingFrame(id: number): Uint8Array {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint32(0, id >>> 0);
  return controlFrame(SPDY_TYPE.ping, 0, p);
}

export function goAwayFrame(lastStreamId: number, status = 0): Uint8Array {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, lastStreamId & 0x7fffffff);
  v.setUint32(4, status);
  return controlFrame(SPDY_TYPE.goaway, 0, p);
}

/** The stream id a control frame's payload starts with (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE). */
export function controlStreamId(payload: Uint8Array): number {
  if (payload.length < 4) throw new Error("SPDY control frame too short for a stream id");
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) & 0x7fffffff;
}

/** Incremental decoder: push bytes as they come (in any pieces), get control frames and DATA pieces back. */
export class SpdyDecoder {
  #queue = new ByteQueue();
  /** The DATA frame whose payload is coming, and how many of its bytes are still to come. */
  #data: { streamId: number; flags: number; left: number } | undefined;

  push(chunk: Uint8Array): SpdyFrame[] {
    const q = this.#queue;
    // Plain Uint8Array views (not Buffers): what comes out is the same type whatever went in.
    q.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    const out: SpdyFrame[] = [];
    while (true) {
      const d = this.#data;
      if (d) {
        if (d.left > 0 && q.length === 0) break;
        const piece = q.take(d.left);
        d.left -= piece.length;
        const last = d.left === 0;
        out.push({ control: false, streamId: d.streamId, flags: last ? d.flags : d.flags & ~FLAG_FIN, data: piece });
        if (last) this.#data = undefined;
        continue;
      }
      if (q.length < 8) break;
      const head = q.peek(8);
      const len = (head[5] << 16) | (head[6] << 8) | head[7];
      const flags = head[4];
      if (head[0] & 0x80) {
        const version = ((head[0] & 0x7f) << 8) | head[1];
        if (version !== SPDY_VERSION) throw new Error(`SPDY version ${version} frame (expected ${SPDY_VERSION})`);
        if (q.length < 8 + len) break;
        q.skip(8);
        out.push({ control: true, type: (head[2] << 8) | head[3], flags, payload: q.takeWhole(len) });
      } else {
        q.skip(8);
        this.#data = { streamId: ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) & 0x7fffffff, flags, left: len };
      }
    }
    // What is left (a header's or a control frame's start) is kept as a copy: the caller may reuse its buffer.
    q.detach();
    return out;
  }
}
