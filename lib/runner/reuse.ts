// Warm reuse: `startEnvironment({ reuse: true })` (or K3SBOX_REUSE=1) keeps
// the environment when the process ends and lets the next run with the same
// service definitions attach to it. The pieces the runner needs:
//   - the key: a hash of the definitions (their data and their hooks' source),
//   - finding a complete, running environment with that key,
//   - its CA, kept in the environment's private directory (0600) so ingress
//     certificates issued by the first run stay trusted by later ones,
//   - which live processes are attached, so no reuse run removes a cluster
//     another process is using.

import { envFlag } from "./env-flags.ts";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { listByLabel, removeLabelled } from "../docker.ts";
import { type CertificateAuthority, loadCa } from "../pki.ts";
import { isProcessAlive } from "../exec.ts";
import type { ServiceDefinition } from "../service.ts";
import { LABEL_ENV, LABEL_PID, LABEL_SERVICE } from "./labels.ts";
import { environmentDir, removeEnvironmentDir } from "./state-dir.ts";
import { LABEL_COMPANION } from "./companions.ts";

export const LABEL_REUSE = "k3sbox.reuse";

/** `opts.reuse`, else K3SBOX_REUSE=1/true. */
export function reuseRequested(option: boolean | undefined): boolean {
  if (option !== undefined) return option;
  return envFlag("K3SBOX_REUSE", false);
}

// deno-lint-ignore no-explicit-any
type Definitions = Record<string, ServiceDefinition<any>>;

/** Stable JSON: object keys sorted, functions by their source text. */
function canonical(value: unknown): unknown {
  if (typeof value === "function") return `fn:${String(value)}`;
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** 16 hex digits naming the definitions (and the CA, when one is given). */
export function reuseKey(services: Definitions, caCertPem?: string): string {
  const text = JSON.stringify(canonical({ services, ca: caCertPem ?? null }));
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export interface Reusable {
  envId: string;
  /** Service key → container id. */
  containers: Record<string, string>;
}

/**
 * Environments labelled with `key` whose every service's container is
 * running, newest first. Incomplete or stopped ones come back in `broken`.
 */
export async function findReusable(key: string, serviceKeys: string[]): Promise<{ healthy: Reusable[]; broken: string[] }> {
  const found = await listByLabel("container", [`${LABEL_REUSE}=${key}`]);
  const byEnv = new Map<string, { containers: Record<string, string>; running: Set<string>; createdAt: number; creator: number }>();
  for (const c of found) {
    // A service's companions (e.g. k3s agents) share its labels: the service's own container is the one without LABEL_COMPANION.
    if (c.labels[LABEL_COMPANION] !== undefined) continue;
    const env = byEnv.get(c.labels[LABEL_ENV]) ??
      { containers: {}, running: new Set<string>(), createdAt: c.createdAt.getTime(), creator: Number(c.labels[LABEL_PID]) };
    env.containers[c.labels[LABEL_SERVICE]] = c.id;
    if (c.state === "running") env.running.add(c.labels[LABEL_SERVICE]);
    byEnv.set(c.labels[LABEL_ENV], env);
  }
  const healthy: (Reusable & { createdAt: number })[] = [];
  const broken: string[] = [];
  for (const [envId, env] of byEnv) {
    const running = serviceKeys.every((k) => env.containers[k] && env.running.has(k));
    if (running && (await isStarted(envId))) healthy.push({ envId, containers: env.containers, createdAt: env.createdAt });
    else if (running && isProcessAlive(env.creator)) continue; // another process is still starting it
    else broken.push(envId);
  }
  healthy.sort((a, b) => b.createdAt - a.createdAt);
  return { healthy: healthy.map(({ envId, containers }) => ({ envId, containers })), broken };
}

/** Keeps the environment's CA next to its kubeconfigs (key 0600), for the runs that attach later. */
export async function saveCa(envId: string, ca: { certPem: string; keyPem: string }): Promise<void> {
  const dir = await environmentDir(envId);
  await writeFile(join(dir, "ca.crt"), ca.certPem, { mode: 0o644 });
  await writeFile(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
}

export async function readCa(envId: string): Promise<{ certPem: string; keyPem: string } | undefined> {
  const dir = await environmentDir(envId);
  try {
    return { certPem: await readFile(join(dir, "ca.crt"), "utf8"), keyPem: await readFile(join(dir, "ca.key"), "utf8") };
  } catch {
    return undefined;
  }
}

const STARTED = "reuse-started";

/** Marks a reuse environment as completely started (setup and peers done): only such are attached to. */
export async function markStarted(envId: string): Promise<void> {
  await writeFile(join(await environmentDir(envId), STARTED), new Date().toISOString(), { mode: 0o600 });
}

async function isStarted(envId: string): Promise<boolean> {
  return await readFile(join(await environmentDir(envId), STARTED), "utf8").then(() => true, () => false);
}

const attachDir = async (envId: string) => join(await environmentDir(envId), "attached");

/** Records this process as attached; the returned function detaches it. */
export async function markAttached(envId: string): Promise<() => Promise<void>> {
  const dir = await attachDir(envId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, String(process.pid));
  await writeFile(file, new Date().toISOString(), { mode: 0o600 });
  await touchUsed(envId);
  return async () => {
    await rm(file, { force: true });
    await touchUsed(envId).catch(() => {}); // idle from now on (the directory may be gone with the environment)
  };
}

/** Pids of live processes attached to the environment (stale records are dropped). */
export async function liveAttachments(envId: string): Promise<number[]> {
  const dir = await attachDir(envId);
  const pids = (await readdir(dir).catch(() => [] as string[])).map(Number).filter((p) => Number.isInteger(p) && p > 0);
  const live: number[] = [];
  for (const pid of pids) {
    if (pid !== process.pid && isProcessAlive(pid)) live.push(pid);
    else if (pid !== process.pid) await rm(join(dir, String(pid)), { force: true });
  }
  return live;
}

/**
 * The reuse key of these definitions and the newest healthy environment to
 * attach to. Broken ones (a container stopped or gone) are removed first,
 * unless a live process is still attached to them.
 */
export async function reusableFor(services: Definitions, keys: string[], caCertPem?: string): Promise<{ key: string; found?: Reusable }> {
  const key = reuseKey(services, caCertPem);
  const { healthy, broken } = await findReusable(key, keys);
  for (const envId of broken) if ((await liveAttachments(envId)).length === 0) await removeReused(envId);
  return { key, found: healthy[0] };
}

/** Removes a reuse environment: its containers, network and private directory. */
export async function removeReused(envId: string): Promise<void> {
  await removeLabelled([`${LABEL_ENV}=${envId}`]);
  await removeEnvironmentDir(envId);
}

/** The CA of a reuse environment: the saved one when attaching, else a new one (saved for later runs). */
export async function reuseCa(envId: string, attaching: boolean, fresh: () => Promise<CertificateAuthority>): Promise<CertificateAuthority> {
  if (attaching) {
    const saved = await readCa(envId);
    if (!saved) throw new Error(`k3sbox: reused environment ${envId} has no saved CA in its private directory; remove it with \`k3sbox down ${envId}\``);
    return await loadCa(saved.certPem, saved.keyPem);
  }
  const ca = await fresh();
  await saveCa(envId, { certPem: ca.certPem, keyPem: await ca.keyPem() });
  return ca;
}

/** `prune` removes a reuse environment nobody has attached to for this long (`--reuse-idle` overrides). */
export const DEFAULT_REUSE_IDLE_MS = 24 * 60 * 60 * 1000;
const USED = "reuse-used";

async function touchUsed(envId: string): Promise<void> {
  await writeFile(join(await environmentDir(envId), USED), new Date().toISOString(), { mode: 0o600 });
}

export interface ReusedEnvironment {
  id: string;
  key: string;
  containers: string[];
  /** Live processes attached now. */
  attached: number[];
  /** Milliseconds since the last process attached or left; undefined while one is attached. */
  idleMs?: number;
}

/** Every reuse environment on this Docker daemon. */
export async function listReused(): Promise<ReusedEnvironment[]> {
  const found = await listByLabel("container", [LABEL_REUSE]);
  const byEnv = new Map<string, ReusedEnvironment & { createdAt: number }>();
  for (const c of found) {
    const id = c.labels[LABEL_ENV];
    const e = byEnv.get(id) ?? { id, key: c.labels[LABEL_REUSE], containers: [], attached: [], createdAt: c.createdAt.getTime() };
    e.containers.push(c.name);
    byEnv.set(id, e);
  }
  const out: ReusedEnvironment[] = [];
  for (const { createdAt, ...e } of byEnv.values()) {
    e.attached = await liveAttachments(e.id);
    if (e.attached.length === 0) {
      const used = await readFile(join(await environmentDir(e.id), USED), "utf8").then((t) => Date.parse(t), () => createdAt);
      e.idleMs = Date.now() - (Number.isNaN(used) ? createdAt : used);
    }
    out.push(e);
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Removes reuse environments idle for at least `idleMs` with no live process attached. */
export async function pruneIdleReused(idleMs: number, dryRun = false): Promise<string[]> {
  const idle = (await listReused()).filter((e) => e.idleMs !== undefined && e.idleMs >= idleMs).map((e) => e.id);
  if (!dryRun) for (const id of idle) await removeReused(id);
  return idle;
}
