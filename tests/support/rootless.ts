// Rootless Docker (Debian's dockerd-rootless.sh: rootlesskit, slirp4netns,
// newuidmap) run by an unprivileged user, on a private runtime directory and
// data root, started and stopped by the test. No systemd here: the script
// is run directly.

import { spawn } from "node:child_process";
import { chmod, chown, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../lib/exec.ts";
import { endWatchdogsOf } from "./watchdogs.ts";

export const ROOTLESS_USER = process.env.K3SBOX_ROOTLESS_USER ?? "k3sboxrl";
const SCRIPT = "/usr/share/docker.io/contrib/dockerd-rootless.sh";

/** Why rootless Docker cannot be started here, or undefined. */
export async function rootlessMissing(): Promise<string | undefined> {
  const setup = `apt-get install rootlesskit uidmap slirp4netns; useradd -m ${ROOTLESS_USER}; chmod 666 /dev/net/tun`;
  if (process.getuid?.() !== 0) return "starting a rootless daemon for another user needs root";
  for (const bin of [SCRIPT, "/usr/bin/rootlesskit", "/usr/bin/newuidmap", "/usr/bin/slirp4netns"]) {
    const r = await run("test", ["-x", bin]);
    if (r.code !== 0) return `${bin} is missing (${setup})`;
  }
  const id = await run("id", ["-u", ROOTLESS_USER]);
  if (id.code !== 0) return `no user ${ROOTLESS_USER} (${setup}; or set K3SBOX_ROOTLESS_USER)`;
  return undefined;
}

/** Pids of rootlesskit processes started for `dir` (their command line names it). */
async function rootlesskitOf(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(p)) continue;
    const argv = (await readFile(`/proc/${p}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv[0] === "rootlesskit" && argv.some((a) => a.startsWith(`${dir}/`))) out.push(Number(p));
  }
  return out;
}

export interface RootlessDaemon {
  dockerHost: string;
  stop(): Promise<void>;
}

export async function startRootless(): Promise<RootlessDaemon> {
  const uid = Number((await run("id", ["-u", ROOTLESS_USER])).stdout.trim());
  const gid = Number((await run("id", ["-g", ROOTLESS_USER])).stdout.trim());
  const dir = join(tmpdir(), `k3sbox-rootless-${Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("")}`);
  const runDir = join(dir, "run");
  await mkdir(runDir, { recursive: true });
  for (const d of [dir, runDir]) await chown(d, uid, gid);
  await chmod(runDir, 0o700);
  const script = join(dir, "start.sh");
  await writeFile(script, [
    "#!/bin/sh",
    `export XDG_RUNTIME_DIR=${runDir} HOME=${dir} PATH=/usr/sbin:/usr/bin:/sbin:/bin`,
    `exec ${SCRIPT} --data-root ${dir}/data --exec-root ${runDir}/exec --pidfile ${runDir}/docker.pid`,
  ].join("\n") + "\n", { mode: 0o755 });
  const cp = spawn("su", [ROOTLESS_USER, "-s", "/bin/sh", "-c", script], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  cp.stderr!.on("data", (c) => (log = (log + c).slice(-4000)));
  let exited = false;
  cp.on("exit", () => (exited = true));
  const dockerHost = `unix://${runDir}/docker.sock`;
  const stop = async () => {
    // su does not pass SIGTERM on: stop this daemon's rootlesskit (found by its unique directory), which takes dockerd along.
    const pids = await rootlesskitOf(dir);
    for (const pid of pids) process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 20_000;
    while ((await rootlesskitOf(dir)).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (!exited) cp.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
    await endWatchdogsOf((host) => host === dockerHost);
  };
  const deadline = Date.now() + 60_000;
  while (true) {
    const r = await run("docker", ["version", "--format", "{{.Server.Version}}"], { env: { DOCKER_HOST: dockerHost }, timeoutMs: 5_000 });
    if (r.code === 0) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`rootless dockerd did not answer on ${dockerHost}:\n${log}`);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  return { dockerHost, stop };
}
