// Byte joining and hex (lib/bytes.ts): what the WebSocket/SPDY decoders, the PKI and the id generators share.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { joinBytes, randomHex, toHex } from "../../lib/bytes.ts";

test("joinBytes: the parts in order, as a plain Uint8Array copy", () => {
  const a = Uint8Array.of(1, 2);
  const b = Uint8Array.of(3);
  const joined = joinBytes([a, new Uint8Array(0), b]);
  assert.deepEqual(joined, Uint8Array.of(1, 2, 3));
  assert.equal(Object.getPrototypeOf(joined), Uint8Array.prototype);
  assert.deepEqual(joinBytes([]), new Uint8Array(0));
  // A copy, even of one part: later writes to the part do not show through.
  const single = joinBytes([a]);
  a[0] = 9;
  assert.deepEqual(single, Uint8Array.of(1, 2));
});

test("joinBytes: subarray views contribute only their own bytes", () => {
  const whole = Uint8Array.of(0, 1, 2, 3, 4, 5);
  assert.deepEqual(joinBytes([whole.subarray(1, 3), whole.subarray(4)]), Uint8Array.of(1, 2, 4, 5));
});

test("toHex: two lowercase digits per byte, leading zeros kept", () => {
  assert.equal(toHex(Uint8Array.of(0x00, 0x0a, 0xff, 0x10)), "000aff10");
  assert.equal(toHex(Uint8Array.of(0xab).buffer), "ab");
  assert.equal(toHex(Uint8Array.of(1, 2, 3).subarray(1)), "0203");
  assert.equal(toHex(new Uint8Array(0)), "");
});

test("randomHex: 2 digits per byte, fresh each time", () => {
  assert.match(randomHex(5), /^[0-9a-f]{10}$/);
  assert.notEqual(randomHex(8), randomHex(8));
});
