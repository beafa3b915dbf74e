// ByteQueue (lib/kube/byte-queue.ts): what the WebSocket and SPDY decoders
// keep between pieces of input; payloads leave it as views, not copies.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { ByteQueue } from "../../lib/kube/byte-queue.ts";

test("ByteQueue: take hands out views of the first piece, up to n", () => {
  const q = new ByteQueue();
  const a = Uint8Array.of(1, 2, 3);
  const b = Uint8Array.of(4, 5);
  q.push(a);
  q.push(new Uint8Array(0));
  q.push(b);
  assert.equal(q.length, 5);
  const first = q.take(2);
  assert.deepEqual(first, Uint8Array.of(1, 2));
  assert.equal(first.buffer, a.buffer, "a view, not a copy");
  assert.deepEqual(q.take(10), Uint8Array.of(3), "no further than the first piece");
  assert.equal(q.take(10), b, "a whole piece is handed out as it is");
  assert.equal(q.length, 0);
  assert.deepEqual(q.take(4), new Uint8Array(0));
});

test("ByteQueue: peek and takeWhole join across pieces; skip crosses them", () => {
  const q = new ByteQueue();
  for (const p of [Uint8Array.of(1), Uint8Array.of(2, 3), Uint8Array.of(4, 5, 6)]) q.push(p);
  assert.deepEqual(q.peek(4), Uint8Array.of(1, 2, 3, 4));
  assert.equal(q.length, 6, "peek leaves the bytes");
  q.skip(2);
  assert.deepEqual(q.takeWhole(3), Uint8Array.of(3, 4, 5));
  assert.deepEqual(q.takeWhole(1), Uint8Array.of(6));
  assert.equal(q.length, 0);
});
