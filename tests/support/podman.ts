// Podman 4.x (Debian's package) as the engine behind the docker CLI: its
// Docker-compatible API service on a private socket, started and stopped by
// the test. As root it asks runc for nofile/nproc rlimits above some hosts'
// hard limits unless containers.conf sets default_ulimits; `ulimits: true`
// points the service at such a file (CONTAINERS_CONF), `false` leaves
// Podman's default, to test the error k3sbox gives then.

import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../lib/exec.ts";
import { endWatchdogsOf } from "./watchdogs.ts";

export interface PodmanService {
  dockerHost: string;
  stop(): Promise<void>;
}

/** Why Podman cannot be used here, or undefined. */
export async function podmanMissing(): Promise<string | undefined> {
  const r = await run("podman", ["--version"]).catch(() => undefined);
  if (!r || r.code !== 0) return "podman is not installed (Debian: apt-get install podman golang-github-containernetworking-plugin-dnsname)";
  if (process.getuid?.() !== 0) return "the Podman tests run rootful Podman and need root";
  return undefined;
}

/** The hard limits of process `pid` (the service: containers can get no more without CAP_SYS_RESOURCE). */
async function hardLimits(pid: number | string): Promise<{ nofile: string; nproc: string }> {
  const limits = await readFile(`/proc/${pid}/limits`, "utf8");
  const hard = (name: string) => new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, "m").exec(limits)?.[1] ?? "1024";
  return { nofile: hard("Max open files"), nproc: hard("Max processes") };
}

export async function startPodman(opts: { ulimits: boolean }): Promise<PodmanService & { pid: number }> {
  if (opts.ulimits) {
    // The limits the service runs with, from a first start without the setting.
    const probe = await startPodman({ ulimits: false });
    const limits = await hardLimits(probe.pid);
    await probe.stop();
    return await startService(limits);
  }
  return await startService();
}

async function startService(limits?: { nofile: string; nproc: string }): Promise<PodmanService & { pid: number }> {
  const dir = await mkdtemp(join(tmpdir(), "k3sbox-podman-"));
  const sock = join(dir, "podman.sock");
  const env: Record<string, string> = { ...process.env as Record<string, string> };
  delete env.DOCKER_HOST;
  if (limits) {
    const conf = join(dir, "containers.conf");
    await writeFile(conf, `[containers]\ndefault_ulimits = ["nofile=${limits.nofile}:${limits.nofile}", "nproc=${limits.nproc}:${limits.nproc}"]\n`);
    env.CONTAINERS_CONF = conf;
  }
  const cp = spawn("podman", ["system", "service", "--time=0", `unix://${sock}`], { stdio: "ignore", env });
  let exited = false;
  cp.on("exit", () => (exited = true));
  const stop = async () => {
    if (!exited) {
      cp.kill("SIGTERM");
      await new Promise((r) => cp.once("exit", r));
    }
    await rm(dir, { recursive: true, force: true });
    await endWatchdogsOf((host) => host === `unix://${sock}`);
  };
  const deadline = Date.now() + 30_000;
  while (true) {
    const r = await run("docker", ["version", "--format", "{{.Server.Version}}"], { env: { DOCKER_HOST: `unix://${sock}` }, timeoutMs: 5_000 });
    if (r.code === 0) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`podman system service did not answer on ${sock}: ${r.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  return { dockerHost: `unix://${sock}`, stop, pid: cp.pid! };
}
