// An in-memory POSIX ustar archive writer, just enough to hand files to
// `docker cp -` (manifests, registries.yaml, keys) without touching disk.
//
// Files only: `docker cp` creates missing parent directories itself (0755,
// owned by root), so no directory entries are written. Owner is uid/gid 0.

export interface TarEntry {
  /** Path inside the archive; a leading `/` is stripped. */
  path: string;
  content: string | Uint8Array;
  /** Permission bits, default 0o644. */
  mode?: number;
}

export interface TarOptions {
  /** Modification time written for every entry, default now. */
  mtime?: Date;
}

/** Thrown for a path or mode that cannot be written into a ustar archive. */
export class TarPathError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`tar: ${JSON.stringify(path)}: ${reason}`);
    this.name = "TarPathError";
  }
}

const BLOCK = 512;
const NAME_MAX = 100;
const PREFIX_MAX = 155;
const encoder = new TextEncoder();

/** Builds a ustar archive holding `entries`, ending with two zero blocks. */
export function tar(entries: readonly TarEntry[], opts: TarOptions = {}): Uint8Array {
  const mtime = Math.floor((opts.mtime ?? new Date()).getTime() / 1000);
  const parts: Uint8Array[] = [];
  let total = 0;
  const seen = new Set<string>();
  for (const entry of entries) {
    const path = normalizePath(entry.path);
    if (seen.has(path)) throw new TarPathError(entry.path, "appears twice in the archive");
    seen.add(path);
    const body = typeof entry.content === "string" ? encoder.encode(entry.content) : entry.content;
    const mode = entry.mode ?? 0o644;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new TarPathError(entry.path, `mode ${mode} is not a permission value (0 to 0o7777)`);
    }
    const header = headerFor(entry.path, path, body.length, mode, mtime);
    const padded = new Uint8Array(Math.ceil(body.length / BLOCK) * BLOCK);
    padded.set(body);
    parts.push(header, padded);
    total += header.length + padded.length;
  }
  const out = new Uint8Array(total + 2 * BLOCK); // end of archive: two zero blocks
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Strips leading slashes and rejects paths that are empty or escape the root. */
export function normalizePath(original: string): string {
  if (original.includes("\0")) throw new TarPathError(original, "contains a NUL byte");
  const path = original.replace(/^\/+/, "");
  if (path === "") throw new TarPathError(original, "is empty");
  for (const segment of path.split("/")) {
    if (segment === "..") throw new TarPathError(original, "contains a `..` segment");
    if (segment === ".") throw new TarPathError(original, "contains a `.` segment");
    if (segment === "") throw new TarPathError(original, "contains an empty segment (`//` or a trailing `/`)");
  }
  return path;
}

/** Splits a path into ustar `prefix` and `name` fields (byte lengths). */
export function splitPath(original: string, path: string): { prefix: Uint8Array; name: Uint8Array } {
  const bytes = encoder.encode(path);
  if (bytes.length <= NAME_MAX) return { prefix: new Uint8Array(0), name: bytes };
  if (bytes.length > PREFIX_MAX + 1 + NAME_MAX) {
    throw new TarPathError(original, `is ${bytes.length} bytes long; ustar allows at most ${PREFIX_MAX + 1 + NAME_MAX}`);
  }
  // The longest prefix that fits leaves the shortest name; search from the right.
  const SLASH = 0x2f;
  for (let i = Math.min(bytes.length - 1, PREFIX_MAX); i > 0; i--) {
    if (bytes[i] !== SLASH) continue;
    const name = bytes.subarray(i + 1);
    if (name.length > NAME_MAX) break; // any shorter prefix makes the name longer still
    return { prefix: bytes.subarray(0, i), name };
  }
  const last = path.slice(path.lastIndexOf("/") + 1);
  if (encoder.encode(last).length > NAME_MAX) {
    throw new TarPathError(original, `file name part is longer than ${NAME_MAX} bytes`);
  }
  throw new TarPathError(original, `cannot be split into a ustar prefix (≤ ${PREFIX_MAX} bytes) and name (≤ ${NAME_MAX} bytes)`);
}

function headerFor(original: string, path: string, size: number, mode: number, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const { prefix, name } = splitPath(original, path);
  h.set(name, 0);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  if (size > 0o77777777777) throw new TarPathError(original, `is ${size} bytes; ustar entries are limited to 8 GiB`);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  h[156] = 0x30; // typeflag '0': regular file
  h.set(encoder.encode("ustar\0"), 257);
  h.set(encoder.encode("00"), 263);
  h.set(encoder.encode("root"), 265); // uname
  h.set(encoder.encode("root"), 297); // gname
  writeOctal(h, 329, 8, 0); // devmajor
  writeOctal(h, 337, 8, 0); // devminor
  h.set(prefix, 345);
  let sum = 0;
  for (const b of h) sum += b;
  // Six octal digits, NUL, space: the traditional layout every reader accepts.
  h.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return h;
}

/** Zero-padded octal digits filling `width - 1` bytes, then a NUL. */
function writeOctal(h: Uint8Array, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, "0");
  h.set(encoder.encode(digits + "\0"), offset);
}
