// A second Docker daemon in its own network namespace (Docker-in-Docker), for
// the tcp:// topology tests: Debian's dockerd 20.10 (the host's binaries and
// their shared libraries, copied into an image built FROM scratch: nothing
// is pulled), run in a container on the host daemon with the privileges the
// host allows (--privileged, or its capability fallback), listening on
// tcp://<its address>:2375, or :2376 with TLS verified both ways.
//
// Its /var/lib/docker is a volume of its own (overlay on the host's disk,
// not on the container's overlay); iptables stays off (the daemon's own
// namespace; published ports go through its docker-proxy); its containers'
// cgroups sit below /k3sbox-dind-<tag>. stop() removes the container, the
// volume and the cgroups.
//
// Shared across test files: scripts/test.sh starts a plain and a TLS one
// (`bun tests/support/dind.ts start`) and exports K3SBOX_DIND_HOST /
// K3SBOX_DIND_TLS_*; a file run alone starts its own (sharedOrOwnDind).

import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { docker, dockerInfo, dockerResult, privilegeArgs } from "../../lib/docker.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { run } from "../../lib/exec.ts";
import { resolvePrivilege } from "../../lib/runner/privilege.ts";
import { ensureImageOnce } from "./images.ts";
import { endWatchdogsOf } from "./watchdogs.ts";

const BINARIES = ["/usr/sbin/dockerd", "/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/sbin/runc", "/usr/sbin/docker-proxy", "/usr/bin/docker"];
/** Debian's sshd, when installed: the ssh:// topology (`startDind({ ssh: true })`). */
const SSHD = "/usr/sbin/sshd";
/** The image's tag says whether it has sshd, so installing sshd later gets an image with it. */
export const DIND_IMAGE = `k3sbox-test-dind:20.10-2${existsSync(SSHD) ? "-ssh" : ""}`;

const DOCKERFILE = `FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir -p /tmp /etc/docker /etc/ssh /var/lib/docker /run /root/.ssh && chmod 1777 /tmp && chmod 700 /root/.ssh && printf 'root:x:0:0:root:/root:/bin/sh\\nsshd:x:100:65534::/run/sshd:/bin/false\\n' > /etc/passwd && printf 'root:x:0:\\nnogroup:x:65534:\\n' > /etc/group"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL k3sbox.test-image=dind
`;

/** The shared libraries `bin` loads (ldd), resolved paths. */
async function librariesOf(bin: string): Promise<string[]> {
  const r = await run("ldd", [bin]);
  if (r.code !== 0) return []; // static
  return r.stdout.split("\n").map((l) => /=>\s*(\/\S+)/.exec(l)?.[1] ?? /^\s*(\/\S+)/.exec(l)?.[1]).filter((p): p is string => !!p);
}

export function ensureDindImage(): Promise<void> {
  return ensureImageOnce(DIND_IMAGE, "dind-build", async () => {
    const context = await mkdtemp(join(tmpdir(), "k3sbox-dind-"));
    try {
      const files = new Set<string>(["/bin/busybox"]);
      for (const b of DIND_IMAGE.endsWith("-ssh") ? [...BINARIES, SSHD] : BINARIES) {
        files.add(b);
        for (const l of await librariesOf(b)) files.add(l);
      }
      for (const f of files) {
        const to = join(context, "rootfs", f);
        await mkdir(dirname(to), { recursive: true });
        await copyFile(f, to);
      }
      await writeFile(join(context, "Dockerfile"), DOCKERFILE);
      await docker(["build", "--quiet", "--force-rm", "--tag", DIND_IMAGE, context], { timeoutMs: 300_000 });
    } finally {
      await rm(context, { recursive: true, force: true });
    }
  });
}

export interface Dind {
  name: string;
  ip: string;
  /** `tcp://<ip>:2375` or `tcp://<ip>:2376`. */
  dockerHost: string;
  /** With TLS: DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) for the CLI. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const tag = () => Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");

/** Why `startDind({ ssh: true })` cannot work here, or undefined. */
export async function sshMissing(): Promise<string | undefined> {
  for (const b of [SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen"]) {
    if ((await run("test", ["-x", b])).code !== 0) return `${b} is missing (apt-get install openssh-server openssh-client)`;
  }
  return undefined;
}

/**
 * Starts a DinD daemon; `tls` makes it listen on :2376 verifying client
 * certificates; `ssh` also runs sshd in it (root, key only) and returns
 * DOCKER_HOST=ssh://root@<ip> with a PATH whose `ssh` uses a key and a
 * known_hosts file of this daemon's (host key verified, never prompts).
 */
export async function startDind(opts: { tls?: boolean; ssh?: boolean } = {}): Promise<Dind> {
  await ensureDindImage();
  const id = tag();
  const name = `k3sbox-test-dind-${id}`;
  const volume = `k3sbox-test-dind-${id}`;
  const cgroupParent = `/k3sbox-dind-${id}`;
  const certDir = opts.tls || opts.ssh ? await mkdtemp(join(tmpdir(), "k3sbox-dind-certs-")) : undefined;
  const stop = () => stopDind(name, certDir);
  try {
    const info = await dockerInfo();
    const priv = await resolvePrivilege(DIND_IMAGE, info.id);
    if (!priv.ok) throw new Error(`this Docker host refuses privileged containers, which DinD needs: ${priv.refusal}`);
    const port = opts.tls ? 2376 : 2375;
    const flags = [
      "--host", `tcp://0.0.0.0:${port}`, "--host", "unix:///var/run/docker.sock",
      "--iptables=false", "--ip-masq=false", "--userland-proxy=true", "--storage-driver", "overlay2",
      "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", cgroupParent,
      ...(opts.tls ? ["--tlsverify", "--tlscacert", "/certs/ca.pem", "--tlscert", "/certs/server.pem", "--tlskey", "/certs/server-key.pem"] : []),
    ];
    // With TLS the server certificate names the container's address, known once it runs: wait for it.
    const script = `${opts.tls ? "while [ ! -f /certs/ready ]; do sleep 0.1; done; " : ""}exec dockerd "$@" >/var/log/dockerd.log 2>&1`;
    await docker([
      // --init: dockerd as PID 1 reaps nothing, and each ssh connection left a zombie sshd (over a thousand in a test run).
      "run", "--detach", "--init", "--name", name, "--label", "k3sbox.test=dind", "--cgroupns", "host",
      ...privilegeArgs(priv.privilege, "host"), "--volume", `${volume}:/var/lib/docker`, "--tmpfs", "/run", "--tmpfs", "/var/log",
      "--entrypoint", "/bin/sh", DIND_IMAGE, "-c", script, "dind", ...flags,
    ], { timeoutMs: 60_000 });
    const ip = (await docker(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", name])).trim();
    const env: Record<string, string> = {};
    if (opts.tls && certDir) {
      const ca = await generateCa({ commonName: "k3sbox test DinD CA" });
      const server = await issueLeaf(ca, { names: [ip, "localhost", "127.0.0.1"], usages: ["server"] });
      const client = await issueLeaf(ca, { names: [], commonName: "k3sbox test client", usages: ["client"] });
      await writeFile(join(certDir, "ca.pem"), ca.certPem);
      await writeFile(join(certDir, "cert.pem"), client.certPem);
      await writeFile(join(certDir, "key.pem"), client.keyPem, { mode: 0o600 });
      const serverDir = await mkdtemp(join(tmpdir(), "k3sbox-dind-server-"));
      try {
        await writeFile(join(serverDir, "ca.pem"), ca.certPem);
        await writeFile(join(serverDir, "server.pem"), server.certPem);
        await writeFile(join(serverDir, "server-key.pem"), server.keyPem, { mode: 0o600 });
        await writeFile(join(serverDir, "ready"), "");
        await docker(["exec", name, "mkdir", "-p", "/certs"]);
        for (const f of ["ca.pem", "server.pem", "server-key.pem", "ready"]) await docker(["cp", join(serverDir, f), `${name}:/certs/${f}`]);
      } finally {
        await rm(serverDir, { recursive: true, force: true });
      }
      Object.assign(env, { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certDir });
    }
    const dockerHost = `tcp://${ip}:${port}`;
    env.DOCKER_HOST = dockerHost;
    if (opts.ssh && certDir) Object.assign(env, await startSshd(name, ip, certDir));
    const deadline = Date.now() + 60_000;
    while (true) {
      const r = await dockerResult(["version", "--format", "{{.Server.Version}}"], { env, timeoutMs: 10_000 }).catch((e) => ({ code: 1, stdout: "", stderr: String(e) }));
      if (r.code === 0) break;
      if (Date.now() > deadline) {
        const log = await dockerResult(["exec", name, "tail", "-n", "30", "/var/log/dockerd.log"]);
        throw new Error(`DinD at ${dockerHost} did not answer within 60 s: ${r.stderr.trim()}\n${log.stdout}${log.stderr}`);
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    return { name, ip, dockerHost: env.DOCKER_HOST, env, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

/** sshd in the DinD container; returns DOCKER_HOST=ssh://… and the PATH with a configured `ssh`. */
async function startSshd(name: string, ip: string, dir: string): Promise<Record<string, string>> {
  for (const k of ["host", "client"]) {
    const r = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `k3sbox-test-${k}`, "-f", join(dir, k)]);
    if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  }
  const config = [
    "Port 22", "ListenAddress 0.0.0.0", "HostKey /etc/ssh/host", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
    "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PidFile /run/sshd.pid", "AllowTcpForwarding local", "AuthorizedKeysFile /root/.ssh/authorized_keys",
  ].join("\n") + "\n";
  await writeFile(join(dir, "sshd_config"), config);
  await copyFile(join(dir, "client.pub"), join(dir, "authorized_keys"));
  await docker(["exec", name, "mkdir", "-p", "/run/sshd"]);
  for (const [f, to] of [["host", "/etc/ssh/host"], ["sshd_config", "/etc/ssh/sshd_config"], ["authorized_keys", "/root/.ssh/authorized_keys"]]) {
    await docker(["cp", join(dir, f), `${name}:${to}`]);
  }
  await docker(["exec", name, "chmod", "600", "/etc/ssh/host", "/root/.ssh/authorized_keys"]);
  await docker(["exec", "--detach", name, SSHD, "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"]);
  const hostPub = (await readFile(join(dir, "host.pub"), "utf8")).trim().split(" ").slice(0, 2).join(" ");
  await writeFile(join(dir, "known_hosts"), `${ip} ${hostPub}\n`);
  await writeFile(join(dir, "ssh_config"), [
    "Host *", `  IdentityFile ${join(dir, "client")}`, "  IdentitiesOnly yes", `  UserKnownHostsFile ${join(dir, "known_hosts")}`,
    "  StrictHostKeyChecking yes", "  BatchMode yes", "  LogLevel ERROR",
  ].join("\n") + "\n");
  const bin = join(dir, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "ssh"), `#!/bin/sh\nexec /usr/bin/ssh -F '${join(dir, "ssh_config")}' "$@"\n`, { mode: 0o755 });
  const env = { DOCKER_HOST: `ssh://root@${ip}`, PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  const deadline = Date.now() + 30_000;
  while (true) {
    const r = await run("docker", ["version", "--format", "{{.Server.Version}}"], { env, timeoutMs: 15_000 });
    if (r.code === 0) return env;
    if (Date.now() > deadline) {
      const log = await dockerResult(["exec", name, "cat", "/var/log/sshd.log"]);
      throw new Error(`DinD over ssh://root@${ip} did not answer: ${r.stderr.trim()}\n${log.stdout}`);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Removes a DinD daemon started by startDind: container, volume, cgroups and client certificates. */
export async function stopDind(name: string, certDir?: string): Promise<void> {
  if (!/^k3sbox-test-dind-[0-9a-f]{8}$/.test(name)) throw new Error(`not a test DinD name: ${name}`);
  const ip = (await dockerResult(["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name])).stdout.trim().split(" ")[0];
  await dockerResult(["rm", "--force", "--volumes", name]);
  // ssh://root@<ip> or tcp://<ip>:<port>: the watchdogs of the processes that used it.
  if (ip) await endWatchdogsOf((host) => new RegExp(`^(?:tcp|ssh)://(?:[^@/]+@)?${ip.replaceAll(".", "\\.")}(?::\\d+)?$`).test(host));
  await dockerResult(["volume", "rm", "--force", name]);
  if (certDir) await rm(certDir, { recursive: true, force: true });
  await removeCgroups(`k3sbox-dind-${name.slice("k3sbox-test-dind-".length)}`);
}

/**
 * The daemon scripts/test.sh shares between test files (K3SBOX_DIND_HOST, or
 * with TLS K3SBOX_DIND_TLS_HOST + K3SBOX_DIND_TLS_CERT_PATH), whose stop()
 * leaves it running; else one of this process's own.
 */
export async function sharedOrOwnDind(opts: { tls?: boolean; ssh?: boolean } = {}): Promise<Dind> {
  const variable = opts.tls ? "K3SBOX_DIND_TLS_HOST" : opts.ssh ? "K3SBOX_DIND_SSH_HOST" : "K3SBOX_DIND_HOST";
  const host = process.env[variable];
  if (!host) return await startDind(opts);
  const ip = /^(?:tcp|ssh):\/\/(?:root@)?([0-9.]+)(?::\d+)?$/.exec(host)?.[1];
  if (!ip) throw new Error(`${variable}: expected tcp://<ip>:<port> or ssh://root@<ip>; got ${host}`);
  const env: Record<string, string> = { DOCKER_HOST: host };
  if (opts.tls) Object.assign(env, { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: process.env.K3SBOX_DIND_TLS_CERT_PATH ?? "" });
  // ssh: the configured `ssh` (key, known_hosts) first on PATH.
  if (opts.ssh) env.PATH = `${process.env.K3SBOX_DIND_SSH_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`;
  return { name: "(shared)", ip, dockerHost: host, env, stop: async () => {} };
}

/** Removes the (empty) cgroup directories below `parent` in every v1 hierarchy, deepest first. */
async function removeCgroups(parent: string): Promise<void> {
  const roots = await readdir("/sys/fs/cgroup").catch(() => [] as string[]);
  for (const r of roots) {
    const base = join("/sys/fs/cgroup", r, parent);
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await walk(join(d, e.name));
      await rmdir(d).catch(() => {});
    };
    await walk(base);
  }
}

/** Copies an image from the host daemon into the DinD one (`docker save | docker -H … load`). */
export async function loadIntoDind(dind: Dind, image: string): Promise<void> {
  const script = 'docker save "$1" | DOCKER_HOST="$2" DOCKER_TLS_VERIFY="$3" DOCKER_CERT_PATH="$4" docker load -q';
  const args = ["-c", script, "sh", image, dind.dockerHost, dind.env.DOCKER_TLS_VERIFY ?? "", dind.env.DOCKER_CERT_PATH ?? ""];
  const r = await run("/bin/sh", args, { env: { DOCKER_HOST: "", DOCKER_TLS_VERIFY: "", DOCKER_CERT_PATH: "" }, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`loading ${image} into DinD ${dind.dockerHost} failed: ${r.stderr.trim()}`);
}

// For scripts/test.sh (shared by the test files of a run):
//   bun tests/support/dind.ts start   starts a plain and a TLS daemon; prints K3SBOX_DIND_* lines
//   bun tests/support/dind.ts stop    removes those named in K3SBOX_DIND_NAMES (and the TLS client certificates)
if (import.meta.main) {
  const cmd = process.argv[2];
  if (cmd === "start") {
    // The plain daemon also runs sshd where this machine has it, for the ssh:// tests.
    const ssh = (await sshMissing()) === undefined;
    const [plain, tls] = await Promise.all([startDind({ ssh }), startDind({ tls: true })]);
    console.log(`K3SBOX_DIND_NAMES=${plain.name},${tls.name}`);
    console.log(`K3SBOX_DIND_HOST=tcp://${plain.ip}:2375`);
    if (ssh) {
      console.log(`K3SBOX_DIND_SSH_HOST=${plain.env.DOCKER_HOST}`);
      console.log(`K3SBOX_DIND_SSH_BIN=${plain.env.PATH.split(":")[0]}`);
    }
    console.log(`K3SBOX_DIND_TLS_HOST=${tls.dockerHost}`);
    console.log(`K3SBOX_DIND_TLS_CERT_PATH=${tls.env.DOCKER_CERT_PATH}`);
  } else if (cmd === "stop") {
    for (const n of (process.env.K3SBOX_DIND_NAMES ?? "").split(",").filter(Boolean)) await stopDind(n);
    for (const dir of [process.env.K3SBOX_DIND_TLS_CERT_PATH, process.env.K3SBOX_DIND_SSH_BIN && dirname(process.env.K3SBOX_DIND_SSH_BIN)]) {
      if (dir?.includes("k3sbox-dind-certs-")) await rm(dir, { recursive: true, force: true });
    }
  } else {
    console.error("usage: dind.ts start | stop");
    process.exit(2);
  }
}
