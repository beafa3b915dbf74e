// The archives handed to `docker cp -`: files written into a created
// container before it starts (configuration, manifests, keys), built in
// memory so a private key never touches the disk. tar-stream writes the
// format (PAX headers for long paths); this module only decides what goes in.

import { loadTarStream } from "../../deps.ts";
import { joinBytes } from "../bytes.ts";

export interface ArchiveEntry {
  /** Path inside the archive; a leading `/` is stripped. */
  path: string;
  content: string | Uint8Array;
  /** Permission bits, default 0o644. */
  mode?: number;
}

/** Thrown for a path or mode that cannot go into an archive for `docker cp`. */
export class ArchivePathError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`archive: ${JSON.stringify(path)}: ${reason}`);
    this.name = "ArchivePathError";
  }
}

/**
 * A tar archive of regular files owned by root (uid/gid 0), no directory
 * entries: `docker cp` creates missing parents itself (0755, root).
 */
export async function archiveOf(entries: readonly ArchiveEntry[], opts: { mtime?: Date } = {}): Promise<Uint8Array> {
  const seen = new Set<string>();
  const checked = entries.map((e) => {
    const name = archivePath(e.path);
    if (seen.has(name)) throw new ArchivePathError(e.path, "appears twice in the archive");
    seen.add(name);
    const mode = e.mode ?? 0o644;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new ArchivePathError(e.path, `mode ${mode} is not a permission value (0 to 0o7777)`);
    const body = typeof e.content === "string" ? new TextEncoder().encode(e.content) : e.content;
    return { name, mode, body };
  });
  const { pack: newPack } = await loadTarStream();
  const pack = newPack();
  const mtime = opts.mtime ?? new Date();
  const chunks: Uint8Array[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Uint8Array));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const e of checked) {
    pack.entry({ name: e.name, mode: e.mode, mtime, uid: 0, gid: 0, uname: "root", gname: "root", type: "file" }, e.body);
  }
  pack.finalize();
  await ended;
  return joinBytes(chunks);
}

/** Strips leading slashes and refuses paths that are empty, hold NUL or escape the root. */
export function archivePath(original: string): string {
  if (original.includes("\0")) throw new ArchivePathError(original, "contains a NUL byte");
  const path = original.replace(/^\/+/, "");
  if (path === "") throw new ArchivePathError(original, "is empty");
  for (const segment of path.split("/")) {
    if (segment === "..") throw new ArchivePathError(original, "contains a `..` segment");
    if (segment === ".") throw new ArchivePathError(original, "contains a `.` segment");
    if (segment === "") throw new ArchivePathError(original, "contains an empty segment (`//` or a trailing `/`)");
  }
  return path;
}
