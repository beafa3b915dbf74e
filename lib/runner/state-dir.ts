// One private directory per environment for the files that hold its
// secrets (kubeconfigs with the cluster-admin key): <root>/<envId>, where
// root is $K3SBOX_STATE_DIR or <tmpdir>/k3sbox-<uid>, both mode 0700. The
// path follows from the id alone, so `stop()`, `k3sbox down <id>`, the crash
// watchdog and `prune` all remove it without having been told where it is.

import { createHash } from "node:crypto";
import { appendFile, lstat, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { KubeconfigEntryRecord } from "./kubeconfig-merge.ts";

const ENV_ID = /^[a-f0-9]{10}$/;

const uid = (): number | undefined => (typeof process.getuid === "function" ? process.getuid() : undefined);

/** The directory holding every environment's directory (not created here). */
export function stateRoot(): string {
  return process.env.K3SBOX_STATE_DIR || join(tmpdir(), `k3sbox-${uid() ?? "user"}`);
}

/**
 * The path of an environment's directory (it may not exist). `root`: where
 * it was made, as its objects' label says (LABEL_STATE_DIR), so `down`, the
 * watchdog and `prune` find it whatever K3SBOX_STATE_DIR is set to now.
 */
export function environmentDirPath(envId: string, root: string = stateRoot()): string {
  if (!ENV_ID.test(envId)) throw new Error(`not an environment id: ${JSON.stringify(envId)} (10 hex digits)`);
  return join(root, envId);
}

/** The state root as a label value (a path may hold commas, which `docker ps` uses between labels). */
export const stateRootLabel = (root: string = stateRoot()): string => encodeURIComponent(root);
/** The root a label names, if it names a usable absolute path. */
export function stateRootFromLabel(label: string | undefined): string | undefined {
  if (!label) return undefined;
  try {
    const root = decodeURIComponent(label);
    return root.startsWith("/") && !root.includes("\0") ? root : undefined;
  } catch {
    return undefined;
  }
}

/** Says which path and which variable when the state directory cannot be made or written (EEXIST, ENOSPC, EACCES…). */
export function stateDirError(err: unknown, path: string): Error {
  const code = (err as { code?: string }).code;
  const why = code === "EEXIST" || code === "ENOTDIR"
    ? "a file that is not a directory is in the way"
    : code === "ENOSPC"
    ? "the file system is full"
    : code === "EACCES" || code === "EPERM"
    ? "permission denied"
    : code === "EROFS"
    ? "the file system is read-only"
    : (err as Error)?.message ?? String(err);
  const from = process.env.K3SBOX_STATE_DIR ? "K3SBOX_STATE_DIR" : "the default state directory (set K3SBOX_STATE_DIR to choose another)";
  return new Error(`k3sbox: cannot write ${path} (${why}${code ? `, ${code}` : ""}); it is under ${stateRoot()}, from ${from}`, { cause: err });
}

/**
 * Creates (if needed) and returns the environment's 0700 directory. The root
 * is refused unless it is a real directory of ours that nobody else can read:
 * in a shared /tmp another user could otherwise have planted it.
 */
export async function environmentDir(envId: string): Promise<string> {
  await checkStateRoot();
  const dir = environmentDirPath(envId);
  await mkdir(dir, { mode: 0o700 }).catch((err) => {
    if ((err as { code?: string }).code !== "EEXIST") throw stateDirError(err, dir);
  });
  return dir;
}

/** Creates the state root if needed and checks it is ours and private: `up` calls it before a cluster is started. */
export async function checkStateRoot(): Promise<string> {
  const root = stateRoot();
  await mkdir(root, { recursive: true, mode: 0o700 }).catch((err) => {
    throw stateDirError(err, root);
  });
  const st = await lstat(root);
  const me = uid();
  if (!st.isDirectory() || (me !== undefined && st.uid !== me) || (st.mode & 0o077) !== 0) {
    throw new Error(
      `k3sbox: ${root} must be a directory owned by you with mode 0700 (it holds cluster-admin kubeconfigs); ` +
        `it is ${st.isDirectory() ? `mode ${(st.mode & 0o777).toString(8)}, owner uid ${st.uid}` : "not a directory"}. ` +
        `Remove it, or set K3SBOX_STATE_DIR to another directory`,
    );
  }
  return root;
}

// Copies of a kubeconfig written outside the directory at the user's request
// (`k3sbox up --kubeconfig <file>`): one JSON line per copy, path and sha256.
const COPIES = "kubeconfig-copies";
const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Records a copy of one of the environment's kubeconfigs, so that it goes with the directory. */
export async function recordCopy(envId: string, path: string, content: string): Promise<void> {
  await appendFile(join(await environmentDir(envId), COPIES), `${JSON.stringify({ path, sha256: sha256(content) })}\n`, { mode: 0o600 });
}

/** Records entries merged into a kubeconfig file (kubeconfig-merge.ts), so they go with the directory. */
export async function recordKubeconfigEntries(envId: string, record: KubeconfigEntryRecord): Promise<void> {
  await appendFile(join(await environmentDir(envId), COPIES), `${JSON.stringify({ entries: record })}\n`, { mode: 0o600 });
}

/**
 * Removes what was recorded: our entries from merged kubeconfigs (the
 * user's own entries stay), and whole copies that still hold what was
 * written (a file the user has since replaced is theirs and stays). The list
 * sits in the 0700 directory, so only its owner can name files here.
 */
async function removeCopies(dir: string): Promise<void> {
  const lines = await readFile(join(dir, COPIES), "utf8").then((t) => t.split("\n").filter(Boolean), () => []);
  for (const line of lines) {
    try {
      const parsed = JSON.parse(line) as { path: string; sha256: string } | { entries: KubeconfigEntryRecord };
      if ("entries" in parsed) {
        // Loaded only here: it parses YAML (deps.ts), which the crash watchdog must not load at start.
        const { removeKubeconfigEntries } = await import("./kubeconfig-merge.ts");
        await removeKubeconfigEntries(parsed.entries);
        continue;
      }
      const { path, sha256: want } = parsed;
      if (sha256(await readFile(path)) === want) await rm(path, { force: true });
    } catch { /* gone already, or unreadable: nothing of ours to remove */ }
  }
}

/** Removes the environment's directory (under `root`, default the current state root), and the kubeconfig copies recorded in it; true when there was one. */
export async function removeEnvironmentDir(envId: string, root?: string): Promise<boolean> {
  const dir = environmentDirPath(envId, root);
  const existed = await lstat(dir).then(() => true, () => false);
  if (existed) await removeCopies(dir);
  await rm(dir, { recursive: true, force: true });
  return existed;
}

/** Ids of the environments that have a directory. */
export async function listEnvironmentDirs(): Promise<{ id: string; modifiedAt: Date }[]> {
  const root = stateRoot();
  const names = await readdir(root).catch(() => [] as string[]);
  const out: { id: string; modifiedAt: Date }[] = [];
  for (const id of names.filter((n) => ENV_ID.test(n))) {
    const st = await lstat(join(root, id)).catch(() => undefined);
    if (st?.isDirectory()) out.push({ id, modifiedAt: st.mtime });
  }
  return out;
}
