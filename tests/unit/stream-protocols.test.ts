// The pure parts of exec and port-forward: WebSocket framing (ws-frame.ts),
// the handshake's accept key and response head (websocket.ts), the API
// server's channel protocols (channels.ts), SPDY/3.1 framing and header
// compression (spdy.ts) and target parsing.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import {
  decodeClose,
  encodeClose,
  encodeFrame,
  type FramePiece,
  FramePieceDecoder,
  mask,
  MessageAssembler,
  OPCODE,
  WebSocketProtocolError,
} from "../../lib/kube/ws-frame.ts";
import { acceptKey, parseResponseHead } from "../../lib/kube/websocket.ts";
import { channelMessage, closeChannelMessage, execQuery, parseChannelMessage, parseExecStatus, parsePortPrefix } from "../../lib/kube/channels.ts";
import { podTarget } from "../../lib/kube/exec.ts";
import { parseForwardTarget } from "../../lib/kube/portforward.ts";
import {
  controlStreamId,
  dataFrame,
  FLAG_FIN,
  goAwayFrame,
  HeaderCompressor,
  headerBlock,
  pingFrame,
  RST_CANCEL,
  rstStream,
  SPDY_TYPE,
  SpdyDecoder,
  synStream,
} from "../../lib/kube/spdy.ts";
import { Buffer } from "node:buffer";

/** A frame as a server sends it: unmasked. */
function serverFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const len = payload.length;
  const head = len < 126 ? [len] : len < 65536 ? [126, len >> 8, len & 0xff] : [127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff];
  return Uint8Array.from([(fin ? 0x80 : 0) | opcode, ...head, ...payload]);
}

/** Reads back a client frame: header fields and the unmasked payload. */
function readClientFrame(f: Uint8Array): { fin: boolean; opcode: number; payload: Uint8Array } {
  assert.ok(f[1] & 0x80, "client frames are masked");
  let len = f[1] & 0x7f;
  let o = 2;
  if (len === 126) {
    len = (f[2] << 8) | f[3];
    o = 4;
  } else if (len === 127) {
    len = Number(new DataView(f.buffer, f.byteOffset + 2, 8).getBigUint64(0));
    o = 10;
  }
  const key = f.subarray(o, o + 4);
  const payload = Uint8Array.from(f.subarray(o + 4, o + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  assert.equal(f.length, o + 4 + len, "no bytes beyond the frame");
  return { fin: (f[0] & 0x80) !== 0, opcode: f[0] & 0x0f, payload };
}

const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const KEY = Uint8Array.of(0x12, 0x34, 0x56, 0x78);

test("encodeFrame: lengths 0, 125, 126, 65535, 65536 and 1 MiB use the right header and mask the payload", () => {
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]) {
    const payload = bytes(n);
    const f = encodeFrame(OPCODE.binary, payload, KEY);
    const headerLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    assert.equal(f.length, headerLen + 4 + n, `length of the frame for ${n} bytes`);
    const back = readClientFrame(f);
    assert.equal(back.fin, true);
    assert.equal(back.opcode, OPCODE.binary);
    assert.deepEqual(back.payload, payload, `payload of ${n} bytes round-trips`);
    if (n > 4) assert.notDeepEqual(f.subarray(headerLen + 4), payload, "the payload on the wire is masked");
  }
});

test("mask: XOR with the key at any alignment and length, and twice is the identity", () => {
  for (const offset of [0, 1, 2, 3]) {
    for (const n of [0, 3, 63, 64, 65, 1000]) {
      const buf = new Uint8Array(offset + n);
      buf.set(bytes(n), offset);
      const view = buf.subarray(offset);
      mask(view, KEY);
      for (let i = 0; i < n; i++) assert.equal(view[i], bytes(n)[i] ^ KEY[i & 3], `byte ${i} at offset ${offset}, length ${n}`);
      mask(view, KEY);
      assert.deepEqual(view, bytes(n));
    }
  }
});

/**
 * What a WebSocketConnection listening for whole messages makes of the bytes
 * pushed: each control frame whole, each data message put together by the
 * MessageAssembler from the FramePieceDecoder's pieces.
 */
function messageDecoder(maxMessageBytes?: number) {
  type Frame = { opcode: number; payload: Uint8Array };
  const pieces = new FramePieceDecoder();
  const messages = new MessageAssembler(maxMessageBytes);
  return {
    push(chunk: Uint8Array): Frame[] {
      const out: Frame[] = [];
      for (const p of pieces.push(chunk)) {
        const payload = p.opcode >= 0x8 ? p.data : messages.add(p);
        if (payload) out.push({ opcode: p.opcode, payload });
      }
      return out;
    },
  };
}

test("pieces into messages: frames split at every byte boundary come out whole, in order", () => {
  const a = bytes(300, 1);
  const b = bytes(70_000, 2);
  const wire = Uint8Array.from([...serverFrame(OPCODE.binary, a), ...serverFrame(OPCODE.text, new TextEncoder().encode("hi")), ...serverFrame(OPCODE.binary, b)]);
  for (const step of [1, 2, 3, 7, 125, 4096, wire.length]) {
    const d = messageDecoder();
    const got = [];
    for (let i = 0; i < wire.length; i += step) got.push(...d.push(wire.subarray(i, i + step)));
    assert.equal(got.length, 3, `three frames with chunks of ${step}`);
    assert.deepEqual(got[0], { opcode: OPCODE.binary, payload: a });
    assert.equal(new TextDecoder().decode(got[1].payload), "hi");
    assert.deepEqual(got[2].payload, b);
  }
});

test("pieces into messages: a fragmented message is reassembled; a ping between fragments comes out on its own, first", () => {
  const d = messageDecoder();
  const wire = [
    serverFrame(OPCODE.binary, Uint8Array.of(1, 2), false),
    serverFrame(OPCODE.ping, Uint8Array.of(9)),
    serverFrame(OPCODE.continuation, Uint8Array.of(3), false),
    serverFrame(OPCODE.continuation, Uint8Array.of(4, 5)),
  ];
  const got = wire.flatMap((w) => d.push(w));
  assert.deepEqual(got, [{ opcode: OPCODE.ping, payload: Uint8Array.of(9) }, { opcode: OPCODE.binary, payload: Uint8Array.of(1, 2, 3, 4, 5) }]);
});

test("pieces into messages: protocol violations are errors that say what is wrong", () => {
  const masked = Uint8Array.of(0x82, 0x81, 1, 2, 3, 4, 5);
  assert.throws(() => messageDecoder().push(masked), (e: Error) => e instanceof WebSocketProtocolError && /masked frame/.test(e.message));
  assert.throws(() => messageDecoder().push(Uint8Array.of(0xc2, 0)), /reserved bits/);
  assert.throws(() => messageDecoder().push(serverFrame(OPCODE.continuation, Uint8Array.of(1))), /continuation frame without a message/);
  assert.throws(() => messageDecoder().push(serverFrame(OPCODE.ping, Uint8Array.of(1), false)), /fragmented control frame/);
  assert.throws(() => messageDecoder(1000).push(serverFrame(OPCODE.binary, bytes(2000))), /larger than 1000 bytes/);
  assert.throws(() => messageDecoder().push(serverFrame(0x3, Uint8Array.of(1))), /unknown opcode 3/);
  assert.throws(() => messageDecoder().push(serverFrame(OPCODE.ping, bytes(126))), /control frame of 126 bytes/);
});

test("FramePieceDecoder: a message comes out in the pieces it arrived in, views of them, the last marked (as a server that ends each message with an empty frame sends it)", () => {
  // A 16 KiB non-final frame, then an empty final continuation (Go's gorilla/websocket writes large messages so), then a ping.
  const payload = bytes(16 * 1024, 3);
  const wire = Buffer.concat([serverFrame(OPCODE.binary, payload, false), serverFrame(OPCODE.continuation, new Uint8Array(0)), serverFrame(OPCODE.ping, Uint8Array.of(7))]);
  for (const step of [1, 3, 4, 1000, 16 * 1024, wire.length]) {
    const d = new FramePieceDecoder();
    const pieces: FramePiece[] = [];
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += step) {
      const chunk = Uint8Array.from(wire.subarray(i, i + step));
      chunks.push(chunk);
      pieces.push(...d.push(chunk));
    }
    const data = pieces.filter((p) => p.opcode === OPCODE.binary);
    assert.deepEqual(Buffer.concat(data.map((p) => p.data)), Buffer.from(payload), `payload with chunks of ${step}`);
    assert.deepEqual(data.map((p) => p.last), data.map((_, i) => i === data.length - 1), "only the last piece is marked last");
    assert.ok(data.every((p) => p.data.length > 0 || p.last), "no empty pieces but the final one");
    for (const p of data.filter((p) => p.data.length > 0)) {
      assert.ok(chunks.some((c) => c.buffer === p.data.buffer), "a payload piece is a view of a pushed chunk, not a copy");
    }
    assert.deepEqual(pieces[pieces.length - 1], { opcode: OPCODE.ping, data: Uint8Array.of(7), last: true });
  }
});

test("decoders keep nothing of a pushed buffer once push returns: fed through one reused buffer (as a Node TLS socket with onread reads), every split decodes the same", () => {
  const payload = bytes(40_000, 5);
  const ws = Buffer.concat([serverFrame(OPCODE.binary, payload.subarray(0, 16 * 1024), false), serverFrame(OPCODE.continuation, payload.subarray(16 * 1024)), serverFrame(OPCODE.ping, Uint8Array.of(7, 8))]);
  const spdy = Buffer.concat([synStream(3, Uint8Array.of(1, 2, 3)), dataFrame(5, payload, true), pingFrame(42)]);
  for (const step of [1, 3, 7, 13, 1000]) {
    const scratch = new Uint8Array(step);
    // Each piece is used (copied) before the next push overwrites the scratch buffer, as a borrowed read must be.
    const feed = (wire: Uint8Array, push: (chunk: Uint8Array) => void) => {
      for (let i = 0; i < wire.length; i += step) {
        const part = wire.subarray(i, i + step);
        scratch.set(part);
        push(scratch.subarray(0, part.length));
        scratch.fill(0xee);
      }
    };
    const wd = new FramePieceDecoder();
    const wsData: Uint8Array[] = [];
    const wsControl: Uint8Array[] = [];
    feed(ws, (c) => {
      for (const p of wd.push(c)) (p.opcode === OPCODE.ping ? wsControl : wsData).push(p.data.slice());
    });
    assert.deepEqual(new Uint8Array(Buffer.concat(wsData)), payload, `WebSocket payload with chunks of ${step}`);
    assert.deepEqual(wsControl, [Uint8Array.of(7, 8)], `the ping with chunks of ${step}`);
    const sd = new SpdyDecoder();
    const spdyData: Uint8Array[] = [];
    const ids: number[] = [];
    feed(spdy, (c) => {
      for (const f of sd.push(c)) {
        if (f.control) ids.push(f.type === SPDY_TYPE.ping ? new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0) : controlStreamId(f.payload));
        else spdyData.push(f.data.slice());
      }
    });
    assert.deepEqual(new Uint8Array(Buffer.concat(spdyData)), payload, `SPDY DATA with chunks of ${step}`);
    assert.deepEqual(ids, [3, 42], `SYN_STREAM's stream and the ping's id with chunks of ${step}`);
  }
});

test("MessageAssembler: a message in one piece is that piece; several are joined; past the limit is an error", () => {
  const one = Uint8Array.of(1, 2, 3);
  const a = new MessageAssembler(10);
  assert.equal(a.add({ opcode: OPCODE.binary, data: one, last: false }), undefined);
  assert.equal(a.add({ opcode: OPCODE.binary, data: new Uint8Array(0), last: true }), one, "the same array, not a copy");
  a.add({ opcode: OPCODE.binary, data: one, last: false });
  assert.deepEqual(a.add({ opcode: OPCODE.binary, data: Uint8Array.of(4), last: true }), Uint8Array.of(1, 2, 3, 4));
  assert.deepEqual(a.add({ opcode: OPCODE.text, data: new Uint8Array(0), last: true }), new Uint8Array(0), "an empty message");
  a.add({ opcode: OPCODE.binary, data: bytes(8), last: false });
  assert.throws(() => a.add({ opcode: OPCODE.binary, data: bytes(3), last: false }), /message larger than 10 bytes/);
});

test("close frames: code and reason round-trip; an empty close payload is 1005", () => {
  assert.deepEqual(decodeClose(encodeClose(1000, "bye")), { code: 1000, reason: "bye" });
  assert.deepEqual(decodeClose(encodeClose(4001)), { code: 4001, reason: "" });
  assert.deepEqual(decodeClose(new Uint8Array(0)), { code: 1005, reason: "" });
  assert.ok(encodeClose(1000, "x".repeat(500)).length <= 125, "a control frame's payload stays within 125 bytes");
});

test("handshake: Sec-WebSocket-Accept of RFC 6455's example key, and the response head parsed", () => {
  assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const head = parseResponseHead("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\nX-A: 1\r\nx-a: 2");
  assert.equal(head.status, 101);
  assert.equal(head.headers["sec-websocket-protocol"], "v5.channel.k8s.io");
  assert.equal(head.headers["x-a"], "1, 2");
  assert.throws(() => parseResponseHead("SSH-2.0-OpenSSH"), /not an HTTP response/);
});

test("channels: a message is its channel byte then the data; v5's close names the channel", () => {
  assert.deepEqual(channelMessage(0, Uint8Array.of(7, 8)), Uint8Array.of(0, 7, 8));
  assert.deepEqual(parseChannelMessage(Uint8Array.of(2, 104, 105)), { channel: 2, data: Uint8Array.of(104, 105) });
  assert.deepEqual(closeChannelMessage(0), Uint8Array.of(255, 0));
  assert.throws(() => parseChannelMessage(new Uint8Array(0)), /no channel byte/);
});

test("exec status: Success is exit 0, NonZeroExitCode carries the code, other failures their message", () => {
  assert.deepEqual(parseExecStatus('{"metadata":{},"status":"Success"}'), { exitCode: 0 });
  assert.deepEqual(
    parseExecStatus(
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    ),
    { exitCode: 3 },
  );
  assert.deepEqual(
    parseExecStatus('{"status":"Failure","reason":"InternalError","message":"exec: \\"nope\\": executable file not found in $PATH"}'),
    { failure: 'InternalError: exec: "nope": executable file not found in $PATH' },
  );
  assert.deepEqual(parseExecStatus("plain text"), { failure: "plain text" });
});

test("port-forward: each channel opens with the port, 2 bytes little-endian", () => {
  assert.equal(parsePortPrefix(Uint8Array.of(0x50, 0x1f)), 8016);
  assert.equal(parsePortPrefix(Uint8Array.of(7, 0, 99)), 7);
  assert.throws(() => parsePortPrefix(Uint8Array.of(1)), /expected the 2-byte port number/);
});

test("exec query: each argv element is its own command parameter, nothing is joined into a shell string", () => {
  const q = new URLSearchParams(execQuery(["sh", "-c", "echo a&b; exit 3"], { container: "app", stdin: true }));
  assert.deepEqual(q.getAll("command"), ["sh", "-c", "echo a&b; exit 3"]);
  assert.equal(q.get("container"), "app");
  assert.equal(q.get("stdin"), "true");
  assert.equal(new URLSearchParams(execQuery(["true"], { stdin: false })).get("stdin"), null);
});

test("targets: pod names, pod/ and service/ prefixes; anything else is refused with the accepted forms", () => {
  assert.deepEqual(parseForwardTarget("web-0"), { kind: "pod", name: "web-0" });
  assert.deepEqual(parseForwardTarget("pod/web-0"), { kind: "pod", name: "web-0" });
  assert.deepEqual(parseForwardTarget("service/web"), { kind: "service", name: "web" });
  assert.deepEqual(parseForwardTarget("svc/web"), { kind: "service", name: "web" });
  assert.throws(() => parseForwardTarget("deployment/web"), /"pod\/<name>", "service\/<name>" or a pod name/);
  assert.throws(() => parseForwardTarget("Web"), TypeError);
  assert.deepEqual(podTarget("pod/a", "ns", "exec()"), { namespace: "ns", name: "a" });
  assert.deepEqual(podTarget({ metadata: { name: "b", namespace: "other" } }, "ns", "exec()"), { namespace: "other", name: "b" });
  assert.deepEqual(podTarget("c", undefined, "exec()"), { namespace: "default", name: "c" });
  assert.throws(() => podTarget("a b", "ns", "exec()"), /not a pod name/);
});

test("SPDY: header blocks are a zlib stream any inflater reads, block by block (stored blocks, each ending in a sync-flush marker)", async () => {
  const { inflateSync, constants } = await import("node:zlib");
  const c = new HeaderCompressor();
  const one = headerBlock([["port", "7007"], ["requestid", "0"], ["streamtype", "error"]]);
  const two = headerBlock([["port", "7007"], ["requestid", "0"], ["streamtype", "data"]]);
  const big = headerBlock([["x", "y".repeat(70_000)]]); // more than one stored block (65535 max)
  const a = c.compress(one);
  const b = c.compress(two);
  const d = c.compress(big);
  assert.deepEqual([...a.subarray(0, 2)], [0x78, 0x01], "the first block carries the zlib header (no preset dictionary)");
  assert.notDeepEqual([...b.subarray(0, 2)], [0x78, 0x01], "later blocks continue the same stream");
  for (const block of [a, b, d]) assert.deepEqual([...block.subarray(-5)], [0, 0, 0, 0xff, 0xff], "each block ends with the sync-flush marker");
  const all = Buffer.concat([a, b, d]);
  const inflated = inflateSync(all, { finishFlush: constants.Z_SYNC_FLUSH });
  assert.deepEqual(new Uint8Array(inflated), new Uint8Array(Buffer.concat([one, two, big])));
  // The first block alone is decodable (the receiver decodes each as it arrives).
  assert.deepEqual(new Uint8Array(inflateSync(a, { finishFlush: constants.Z_SYNC_FLUSH })), one);
  assert.throws(() => headerBlock([["streamType", "data"]]), /lowercase/);
});

test("SPDY: frames encode as the draft says and decode back from any split", () => {
  const syn = synStream(3, Uint8Array.of(1, 2, 3), FLAG_FIN);
  assert.deepEqual([...syn.subarray(0, 8)], [0x80, 0x03, 0x00, 0x01, 0x01, 0x00, 0x00, 13], "control bit, version 3, SYN_STREAM, FIN, length 13");
  assert.equal(controlStreamId(syn.subarray(8)), 3);
  const data = dataFrame(5, bytes(70_000), true);
  assert.deepEqual([...data.subarray(0, 8)], [0, 0, 0, 5, 0x01, 0x01, 0x11, 0x70], "stream 5, FIN, 24-bit length 70000");
  const rst = rstStream(7, RST_CANCEL);
  const ping = pingFrame(42);
  const wire = Buffer.concat([syn, data, rst, ping, goAwayFrame(9)]);
  for (const step of [1, 5, 8, 1000, wire.length]) {
    const dec = new SpdyDecoder();
    const frames = [];
    for (let i = 0; i < wire.length; i += step) frames.push(...dec.push(wire.subarray(i, i + step)));
    const pieces = frames.filter((f) => !f.control);
    const control = frames.filter((f) => f.control);
    assert.equal(control.length, 4, `four control frames with chunks of ${step}`);
    const [f0, f2, f3, f4] = control;
    assert.ok(f0.control && f0.type === SPDY_TYPE.synStream && f0.flags === FLAG_FIN);
    assert.ok(pieces.every((p) => !p.control && p.streamId === 5), "the DATA frame's pieces name its stream");
    assert.deepEqual(pieces.map((p) => p.flags), pieces.map((_, i) => (i === pieces.length - 1 ? FLAG_FIN : 0)), "FIN on the last piece only");
    assert.deepEqual(new Uint8Array(Buffer.concat(pieces.map((p) => (!p.control ? p.data : new Uint8Array(0))))), bytes(70_000));
    assert.ok(f2.control && f2.type === SPDY_TYPE.rstStream && controlStreamId(f2.payload) === 7);
    assert.ok(f3.control && f3.type === SPDY_TYPE.ping);
    assert.ok(f4.control && f4.type === SPDY_TYPE.goaway);
    assert.ok(frames.indexOf(pieces[pieces.length - 1]) < frames.indexOf(f2), "in wire order");
  }
  assert.throws(() => new SpdyDecoder().push(Uint8Array.of(0x80, 0x02, 0, 1, 0, 0, 0, 0)), /SPDY version 2 frame/);
});

test("SPDY: DATA pieces are views of what was pushed; an empty DATA frame with FIN is one empty piece", () => {
  const chunk = Buffer.concat([dataFrame(3, bytes(100)), dataFrame(3, new Uint8Array(0), true)]);
  const frames = new SpdyDecoder().push(chunk);
  assert.equal(frames.length, 2);
  const [a, b] = frames;
  assert.ok(!a.control && a.flags === 0 && a.data.buffer === chunk.buffer && a.data.length === 100, "no copy");
  assert.ok(!b.control && b.flags === FLAG_FIN && b.data.length === 0);
});
