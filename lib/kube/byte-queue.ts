// Bytes received in pieces and not consumed yet, for the stream decoders
// (ws-frame.ts, spdy.ts). What is taken off comes out as views of the
// pieces, so payloads pass through without a copy; only a header or a
// control frame that spans two pieces is copied, into a small array, and
// so is what is left when a decoder's push returns (detach), as the
// caller may reuse its buffer then.

import { joinBytes } from "../bytes.ts";

export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The first `n` bytes, left in place (n ≤ length): a view, or a copy when they span pieces (meant for headers). */
  peek(n: number): Uint8Array {
    if (this.#chunks[0].length >= n) return this.#chunks[0].subarray(0, n);
    const out = new Uint8Array(n);
    for (let i = 0, at = 0; at < n; i++) {
      const part = this.#chunks[i].subarray(0, n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Removes and returns up to `n` bytes, as many as the first piece holds (a view; empty when the queue is). */
  take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (!first || n <= 0) return new Uint8Array(0);
    if (first.length <= n) {
      this.#chunks.shift();
      this.#length -= first.length;
      return first;
    }
    this.#chunks[0] = first.subarray(n);
    this.#length -= n;
    return first.subarray(0, n);
  }

  /**
   * Copies the bytes held into an array of the queue's own, so that nothing
   * refers to the pieces pushed any more (their owner may reuse them).
   */
  detach(): void {
    if (this.#length > 0) this.#chunks = [joinBytes(this.#chunks)];
  }

  /** Removes exactly `n` bytes (n ≤ length). */
  skip(n: number): void {
    while (n > 0) n -= this.take(n).length;
  }

  /** Removes and returns exactly `n` bytes (n ≤ length): a view when one piece holds them, else joined. */
  takeWhole(n: number): Uint8Array {
    if (n === 0 || this.#chunks[0].length >= n) return this.take(n);
    const parts: Uint8Array[] = [];
    for (let got = 0; got < n; got += parts[parts.length - 1].length) parts.push(this.take(n - got));
    return joinBytes(parts);
  }
}
