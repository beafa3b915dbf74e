// `k3sbox up --kubeconfig <file>`: our cluster, user and context go into the
// file as kubectl, kind and k3d do it — merged into an existing kubeconfig
// (current-context switched to ours), never replacing it — and only those
// entries are taken out again when the cluster goes (the previous
// current-context restored). A file that did not exist is created 0600 before
// any secret is in it, and removed when nothing but ours was ever in it.
// Symbolic links are refused: following one would put the cluster-admin key
// into whatever file it points at. Writes go to a 0600 temporary file in the
// same directory, renamed over the target, under a `<file>.lock` (kubectl's
// convention) so two k3sbox processes do not lose each other's entries.

import { randomBytes } from "node:crypto";
import { access, constants, lstat, open, readFile, rename, rm } from "node:fs/promises";
import { parseYaml, stringifyYaml } from "../../deps.ts";

interface Named {
  name: string;
  [k: string]: unknown;
}

interface KubeconfigDoc {
  apiVersion?: string;
  kind?: string;
  clusters?: Named[] | null;
  users?: Named[] | null;
  contexts?: Named[] | null;
  "current-context"?: string;
  [k: string]: unknown;
}

/** What `up` recorded about a file it wrote our entries into (state-dir.ts keeps it). */
export interface KubeconfigEntryRecord {
  path: string;
  /** The name of our cluster, user and context entries. */
  name: string;
  /** We created the file: remove it when our entries were all that was in it. */
  created: boolean;
  /** current-context before ours; restored if ours is still current at removal. */
  previousContext?: string;
}

export class KubeconfigTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigTargetError";
  }
}

const LISTS = ["clusters", "users", "contexts"] as const;

/** Parses a kubeconfig the user already has; an empty file counts as an empty kubeconfig. */
export function parseKubeconfig(text: string, path: string): KubeconfigDoc {
  if (text.trim() === "") return {};
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigTargetError(`--kubeconfig: ${path} exists and is not valid YAML (${(err as Error).message.split("\n")[0]}); give another path, or fix the file`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc) || ((doc as KubeconfigDoc).kind !== undefined && (doc as KubeconfigDoc).kind !== "Config")) {
    throw new KubeconfigTargetError(`--kubeconfig: ${path} exists and is not a kubeconfig (kind: Config); k3sbox merges into kubeconfigs only — give another path`);
  }
  for (const list of LISTS) {
    const v = (doc as KubeconfigDoc)[list];
    if (v !== undefined && v !== null && !Array.isArray(v)) throw new KubeconfigTargetError(`--kubeconfig: ${path}: "${list}" is not a list; it is not a kubeconfig k3sbox can merge into`);
  }
  return doc as KubeconfigDoc;
}

/** `ours` (one cluster, user and context, all named `name`) merged into `existing`, ours made current. */
export function mergeEntries(existing: KubeconfigDoc, ours: KubeconfigDoc, name: string): { doc: KubeconfigDoc; previousContext?: string } {
  const doc: KubeconfigDoc = { apiVersion: "v1", kind: "Config", ...existing };
  for (const list of LISTS) {
    const kept = (doc[list] ?? []).filter((e) => e?.name !== name);
    doc[list] = [...kept, ...(ours[list] ?? []).filter((e) => e.name === name || e.name.startsWith(`${name}-`))];
  }
  const previousContext = existing["current-context"] || undefined;
  doc["current-context"] = ours["current-context"] ?? name;
  return { doc, previousContext };
}

/** `doc` without our entries (named `name` or `name-…`), the previous context restored if ours was current. */
export function removeEntries(doc: KubeconfigDoc, record: Pick<KubeconfigEntryRecord, "name" | "previousContext">): { doc: KubeconfigDoc; empty: boolean } {
  const ours = (e: Named | undefined) => e?.name === record.name || (e?.name ?? "").startsWith(`${record.name}-`);
  const out: KubeconfigDoc = { ...doc };
  for (const list of LISTS) if (Array.isArray(doc[list])) out[list] = doc[list]!.filter((e) => !ours(e));
  const current = out["current-context"];
  if (current !== undefined && ours({ name: current })) {
    const back = record.previousContext && out.contexts?.some((c) => c?.name === record.previousContext) ? record.previousContext : undefined;
    if (back) out["current-context"] = back;
    else delete out["current-context"];
  }
  const empty = LISTS.every((l) => (out[l] ?? []).length === 0);
  return { doc: out, empty };
}

/**
 * Checks the target before a cluster is started for it: a regular file we
 * may write, or a new name in an existing directory; never a symbolic link.
 */
export async function checkKubeconfigTarget(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (st.isSymbolicLink()) {
    throw new KubeconfigTargetError(
      `--kubeconfig: ${path} is a symbolic link; k3sbox does not write through links (the cluster-admin key would land in the file it points at) — give the real file's path`,
    );
  }
  if (st.isDirectory()) throw new KubeconfigTargetError(`--kubeconfig: ${path} is a directory; give a file path`);
  if (!st.isFile()) throw new KubeconfigTargetError(`--kubeconfig: ${path} is not a regular file; give a file path`);
  await access(path, constants.R_OK | constants.W_OK).catch(() => {
    throw new KubeconfigTargetError(`--kubeconfig: ${path} exists but is not readable and writable by you; give another path`);
  });
  parseKubeconfig(await readFile(path, "utf8"), path);
}

const LOCK_WAIT_MS = 5_000;

/** Runs `fn` holding `<path>.lock` (created exclusively, as kubectl does); waits up to 5 s for another holder. */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  const t0 = Date.now();
  while (true) {
    try {
      await (await open(lock, "wx", 0o600)).close();
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      if (Date.now() - t0 > LOCK_WAIT_MS) throw new Error(`${path}: ${lock} is held by another process for over ${LOCK_WAIT_MS / 1000} s (remove it if no kubectl or k3sbox is running)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Writes `text` to `path` atomically: a 0600 temporary file (never following a link) renamed over it. */
async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.k3sbox-${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600); // O_EXCL: never an existing file or link
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    const st = await lstat(path).catch(() => undefined);
    if (st?.isSymbolicLink()) throw new KubeconfigTargetError(`--kubeconfig: ${path} became a symbolic link; not writing through it`);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Merges our kubeconfig (`oursYaml`, entries named `name`) into `path`,
 * creating it 0600 when absent. `record` is called with what removal needs
 * before the file is touched, so a crash right after still cleans up.
 */
export async function writeKubeconfigEntries(
  path: string,
  oursYaml: string,
  name: string,
  record: (r: KubeconfigEntryRecord) => Promise<void>,
): Promise<KubeconfigEntryRecord> {
  const ours = parseYaml(oursYaml) as KubeconfigDoc;
  return await withLock(path, async () => {
    await checkKubeconfigTarget(path);
    const text = await readFile(path, "utf8").catch((err) => {
      if ((err as { code?: string }).code === "ENOENT") return undefined;
      throw err;
    });
    const { doc, previousContext } = mergeEntries(text === undefined ? {} : parseKubeconfig(text, path), ours, name);
    const r: KubeconfigEntryRecord = { path, name, created: text === undefined, ...(previousContext ? { previousContext } : {}) };
    await record(r);
    await replaceFile(path, stringifyYaml(doc));
    return r;
  });
}

/** Takes our entries out of the file again (removing it if we created it and nothing else is in it). Never throws for a file that is gone. */
export async function removeKubeconfigEntries(r: KubeconfigEntryRecord): Promise<void> {
  await withLock(r.path, async () => {
    const st = await lstat(r.path).catch(() => undefined);
    if (!st?.isFile()) return; // gone, or replaced by a link or a directory: not ours to touch
    const { doc, empty } = removeEntries(parseKubeconfig(await readFile(r.path, "utf8"), r.path), r);
    if (empty && r.created) await rm(r.path, { force: true });
    else await replaceFile(r.path, stringifyYaml(doc));
  });
}
