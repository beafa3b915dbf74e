// Byte helpers shared by the stream decoders, the PKI and the id generators:
// plain Uint8Arrays (no Buffer), so they behave the same under Bun, Deno and Node.

/** The parts, copied one after another into a new array (always a copy, even of a single part). */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lowercase hex, two digits a byte: [0x0a, 0xff] → "0aff". */
export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  return Array.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `bytes` random bytes as hex (2 × bytes digits). */
export const randomHex = (bytes: number): string => toHex(crypto.getRandomValues(new Uint8Array(bytes)));
