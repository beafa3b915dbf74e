// Crash cleanup without an extra image (testcontainers uses a Ryuk
// container): the first environment of a process starts a small detached
// watchdog, running this file with the same runtime. It checks once a second
// whether the parent process still exists; when it does not (SIGKILL, crash,
// OOM kill), it removes that session's containers and networks, except
// detached ones, and exits. A parent that exits cleanly has removed its
// environments already, so the watchdog then finds nothing and just exits.
//
// Opt out with K3SBOX_REAPER=0 (prune remains the manual remedy).

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isProcessAlive } from "../proc.ts";
import { runtime } from "../runtime.ts";
import { removeLabelled } from "./prune.ts";
import { LABEL_DETACHED, LABEL_SESSION, SESSION_ID } from "./labels.ts";

const CHECK_EVERY_MS = 1_000;
let started = false;

/** Starts this process's watchdog once. No-op under Node (it cannot run this TypeScript file) or when opted out. */
export function ensureReaper(): void {
  if (started || process.env.K3SBOX_REAPER === "0" || runtime === "node") return;
  started = true;
  const script = fileURLToPath(import.meta.url);
  const args = runtime === "deno" ? ["run", "-A", script] : ["run", script];
  const child = spawn(process.execPath, [...args, "--reap", SESSION_ID, String(process.pid)], {
    detached: true, // own process group: a Ctrl-C to the parent's group does not reach it
    stdio: "ignore",
    env: { ...process.env, K3SBOX_REAPER: "0" },
  });
  child.on("error", () => {}); // best effort: prune still works
  child.unref();
}

/** Removes what the dead session left, sparing detached environments. */
export function reapSession(session: string): Promise<{ containers: string[]; networks: string[] }> {
  return removeLabelled([`${LABEL_SESSION}=${session}`], (o) => o.labels[LABEL_DETACHED] !== "true");
}

async function watch(session: string, parent: number): Promise<void> {
  while (isProcessAlive(parent)) await new Promise((r) => setTimeout(r, CHECK_EVERY_MS));
  await reapSession(session).catch(() => {});
}

const [flag, session, parent] = process.argv.slice(2);
if (import.meta.main && flag === "--reap" && session && Number(parent) > 0) {
  await watch(session, Number(parent));
  process.exit(0);
}
