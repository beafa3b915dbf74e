// Buffers of one size, handed out and given back for reuse. A port-forward
// sends its data as 64 KiB frames; a new buffer for each one is external
// memory that V8 counts towards its next full (mark-compact) collection,
// and under Node that marking was a third of the forwarder's CPU time.

export class BufferPool {
  #free: Uint8Array[] = [];

  /** `size` bytes a buffer; at most `keep` idle ones are held (the rest are left to the GC). */
  constructor(readonly size: number, private readonly keep: number) {}

  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Gives back a buffer from take(), once nothing reads it any more. */
  give(buf: Uint8Array): void {
    if (buf.length === this.size && this.#free.length < this.keep) this.#free.push(buf);
  }
}
