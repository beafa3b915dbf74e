// Crash cleanup without an extra image (testcontainers uses a Ryuk
// container): the first environment of a process starts a small detached
// watchdog, running reaper-main.ts (or the compiled .js) with the same runtime. It checks once a second
// whether the parent process still exists; when it does not (SIGKILL, crash,
// OOM kill), it removes that session's containers and networks, except
// detached ones, and exits. A parent that exits cleanly has removed its
// environments already, so the watchdog then finds nothing and just exits.
//
// Opt out with K3SBOX_REAPER=0 (prune remains the manual remedy).
//
// The watchdog imports only node: modules and our own Docker/process layer,
// never deps.ts: started from a URL import, Deno runs it without the user's
// import map, so a third-party import would kill it at load.

import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { isProcessAlive } from "../exec.ts";
import { envFlag } from "./env-flags.ts";
import { runtime } from "../runtime.ts";
import { DockerUnavailableError, inspectContainer, isRunning, listByLabel, removeContainers, removeLabelled, runThrowaway } from "../docker.ts";
import { LABEL_JOINED, leaveNetwork } from "../docker/topology.ts";
import { LABEL_DETACHED, LABEL_ENV, LABEL_SESSION, LABEL_STATE_DIR, SESSION_ID } from "./labels.ts";
import { removeEnvironmentDir, stateRootFromLabel } from "./state-dir.ts";
import { sleep } from "../sleep.ts";

const CHECK_EVERY_MS = 1_000;
let started = false;

/**
 * How this runtime runs the watchdog entry next to this module: the sibling
 * with our own extension (.ts from sources, .js from the npm build). Deno may
 * have loaded us from an https: URL (a URL import), which it runs as is.
 */
export function reaperArgv(moduleUrl: string = import.meta.url): string[] {
  const entry = new URL(`./reaper-main${moduleUrl.endsWith(".ts") ? ".ts" : ".js"}`, moduleUrl);
  const script = entry.protocol === "file:" ? fileURLToPath(entry) : entry.href;
  if (runtime === "deno") return ["run", "-A", script];
  // Node runs .ts sources only with type stripping (NODE_OPTIONS in the test command).
  return runtime === "bun" ? ["run", script] : [script];
}

/** Starts this process's watchdog once, unless opted out. */
export function ensureReaper(): void {
  if (started || !envFlag("K3SBOX_REAPER", true)) return;
  started = true;
  // Through `sh -c '"$@" &'`: the shell starts the watchdog in the background
  // and exits, so the watchdog is nobody's child. Test runners end the
  // processes their tests spawned (`bun test` kills "dangling processes" on a
  // timeout); a grandchild is out of their reach. Arguments pass as "$@".
  const child = spawn("/bin/sh", ["-c", '"$@" &', "k3sbox-reaper", process.execPath, ...reaperArgv(), "--reap", SESSION_ID, String(process.pid)], {
    detached: true, // own session: a Ctrl-C or a kill of the parent's process group does not reach it
    stdio: "ignore",
    env: { ...process.env, K3SBOX_REAPER: "0" },
  });
  child.on("error", () => {}); // best effort: prune still works
  child.unref();
}

/**
 * A process in a container (docker/topology.ts) has its watchdog in the same
 * container, which dies with it. So it also starts a sibling container on
 * the daemon, from its own container's image and volumes (the same runtime
 * and sources at the same paths, the same Docker socket), that waits for
 * that container to stop and then removes the session's leftovers. The
 * in-container watchdog removes the sibling once its parent is gone.
 * Labelled `k3sbox.watchdog=<session>`, not with the session: reaping the
 * session never removes the sibling doing it.
 */
export const LABEL_WATCHDOG = "k3sbox.watchdog";
export const watchdogName = (session: string) => `k3sbox-watchdog-${session}`;
let siblingStarted = false;
export function ensureContainerWatchdog(ownContainer: string): void {
  if (siblingStarted || process.env.K3SBOX_REAPER === "0") return;
  siblingStarted = true;
  (async () => {
    const { imageId } = await inspectContainer(ownContainer);
    const env: Record<string, string> = {};
    for (const k of ["PATH", "HOME", "NODE_OPTIONS", "NODE_COMPILE_CACHE", "DOCKER_HOST", "DENO_DIR"]) if (process.env[k]) env[k] = process.env[k]!;
    await runThrowaway({
      detach: true, name: watchdogName(SESSION_ID), labels: { [LABEL_WATCHDOG]: SESSION_ID }, volumesFrom: ownContainer, noLogs: true,
      env: { ...env, K3SBOX_REAPER: "0" }, entrypoint: process.execPath, image: imageId,
      command: [...reaperArgv(), "--reap-container", SESSION_ID, ownContainer],
    });
  })().catch(() => {}); // best effort, like the watchdog: prune still works
}

/** `container` runs (false once it stopped or is gone; true while Docker cannot tell). */
async function containerRunning(container: string): Promise<boolean> {
  return await isRunning(container, { timeoutMs: 10_000 }).catch(() => true);
}

/** The sibling's loop: waits for `container` to stop, then removes the session's leftovers (twice, for creates in flight). */
export async function watchContainer(session: string, container: string): Promise<void> {
  while (await containerRunning(container)) await sleep(CHECK_EVERY_MS);
  await reapSession(session).catch(() => {});
  await sleep(NO_PROC_PAUSE_MS);
  await reapSession(session).catch(() => {});
}

/** Removes what the dead session left, sparing detached environments. */
export async function reapSession(session: string): Promise<{ containers: string[]; networks: string[] }> {
  // A process's own container joined to a network (network mode) keeps it from being removed.
  for (const n of await listByLabel("network", [`${LABEL_SESSION}=${session}`, LABEL_JOINED]).catch(() => [])) {
    if (n.labels[LABEL_DETACHED] !== "true") await leaveNetwork(n.name, n.labels[LABEL_JOINED]).catch(() => {});
  }
  const envs = new Map<string, string | undefined>();
  const removed = await removeLabelled([`${LABEL_SESSION}=${session}`], {
    only: (o) => {
      const doomed = o.labels[LABEL_DETACHED] !== "true";
      if (doomed) envs.set(o.labels[LABEL_ENV], stateRootFromLabel(o.labels[LABEL_STATE_DIR]));
      return doomed;
    },
  });
  for (const [id, root] of envs) await removeEnvironmentDir(id, root).catch(() => {}); // their kubeconfigs, where they were written
  return removed;
}

/**
 * How many processes (other than this one) label objects with the session:
 * `docker network create` / `docker create` calls the dead parent started
 * (`--label k3sbox.session=<id>`), which outlive it and may still create its
 * objects. A process that only mentions the session, such as a
 * `docker ps --filter label=k3sbox.session=<id>` someone polls with, is not
 * counted: it creates nothing, and a steady poll would hold the sweep back.
 * -1 where there is no /proc to look in.
 */
export async function lingeringCreators(session: string): Promise<number> {
  const pids = await readdir("/proc").catch(() => undefined);
  if (!pids) return -1;
  const label = `${LABEL_SESSION}=${session}`;
  let count = 0;
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv.includes(label) || argv.includes(`--label=${label}`)) count++;
  }
  return count;
}

const LINGER_MAX_MS = 120_000;
const NO_PROC_PAUSE_MS = 5_000;

/** How long the watchdog keeps trying while the Docker daemon does not answer (restarting, say). */
export const DAEMON_RETRY_MAX_MS = 10 * 60_000;
const DAEMON_RETRY_EVERY_MS = 1_000;

/**
 * reapSession, retried while the daemon is unreachable (a dockerd restart
 * leaves the dead session's exited containers and network behind; they can
 * only be removed once it answers again), for up to `maxMs`.
 */
export async function reapWhenDaemonAnswers(session: string, maxMs = DAEMON_RETRY_MAX_MS): Promise<void> {
  const until = Date.now() + maxMs;
  while (true) {
    try {
      await reapSession(session);
      return;
    } catch (err) {
      if (!(err instanceof DockerUnavailableError) || Date.now() >= until) return;
      await sleep(DAEMON_RETRY_EVERY_MS);
    }
  }
}

/** Waits for `parent` to die, then removes its session's leftovers. */
export async function watch(session: string, parent: number): Promise<void> {
  while (isProcessAlive(parent)) await sleep(CHECK_EVERY_MS);
  // The parent's sibling watchdog (a process in a container), if any, is no longer needed.
  await removeContainers([watchdogName(session)]).catch(() => {});
  // Counted BEFORE the sweep: a create that ends after this count was
  // running at it, so it is waited for and swept up by the second pass.
  let lingering = await lingeringCreators(session);
  await reapWhenDaemonAnswers(session);
  if (lingering === 0) return;
  if (lingering < 0) await sleep(NO_PROC_PAUSE_MS);
  const until = Date.now() + LINGER_MAX_MS;
  while (lingering > 0 && Date.now() < until) {
    await sleep(200);
    lingering = await lingeringCreators(session);
  }
  await reapSession(session).catch(() => {});
}
