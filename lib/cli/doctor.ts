// `k3sbox doctor`: what k3sbox would do on this machine and why, before a
// cluster is started: the Docker engine and its kind (Docker, Podman,
// rootless), the topology (how this process reaches published ports, and
// why), the privilege decision, whether the node image is present, and what
// to change when something stands in the way.

import { dockerInfo, type DockerInfo, DockerUnavailableError, dockerVersion, imageExists, listImages } from "../docker.ts";
import { detectTopology, type Topology } from "../docker/topology.ts";
import { inotifyAdvice, type InotifyLimits, readInotifyLimits } from "../runner/host-limits.ts";
import { type PrivilegeResolution, resolvePrivilege } from "../runner/privilege.ts";

export interface DoctorReport {
  ok: boolean;
  docker: {
    endpoint: string;
    cliVersion?: string;
    engine?: string;
    serverVersion?: string;
    os?: string;
    arch?: string;
    rootless?: boolean;
    podman?: boolean;
    cgroup?: string;
    error?: string;
  };
  topology?: Pick<Topology, "kind" | "mode" | "dialHost" | "publishHost" | "tlsSans" | "reason" | "endpoint" | "processContainer"> & { address: string };
  privilege?: { mode: "full" | "capabilities" | "refused" | "unknown"; detail: string };
  /** The daemon host's inotify limits (every node's kubelet, containerd and API server take instances), or why they are unknown. */
  inotify?: InotifyLimits | { error: string };
  image: { reference: string; present?: boolean };
  /** What to change, one sentence each; empty when nothing stands in the way. */
  advice: string[];
}

function describePrivilege(r: PrivilegeResolution): DoctorReport["privilege"] {
  if (!r.ok) return { mode: "refused", detail: `--privileged: ${r.refusal}${r.fallback ? `; capability fallback: ${r.fallback.detail}` : ""}` };
  if (r.privilege.mode === "full") return { mode: "full", detail: "--privileged works" };
  return {
    mode: "capabilities",
    detail: `--privileged is refused here; k3sbox runs privileged services with all capabilities but ${r.privilege.drop.map((c) => `CAP_${c}`).join(", ")}, ` +
      `unconfined seccomp/AppArmor/system paths, all devices${r.privilege.kmsg ? " (with /dev/kmsg)" : ""} and a writable cgroup mount`,
  };
}

export async function doctor(image: string): Promise<DoctorReport> {
  const endpoint = process.env.DOCKER_HOST || "(default: the active context or unix:///var/run/docker.sock)";
  const report: DoctorReport = { ok: true, docker: { endpoint }, image: { reference: image }, advice: [] };
  const version = await dockerVersion().catch((e) => e as Error);
  if (version instanceof Error) {
    report.ok = false;
    report.docker.error = version.message;
    report.advice.push(version instanceof DockerUnavailableError ? version.message : `the docker CLI failed: ${version.message}`);
    return report;
  }
  report.docker.cliVersion = version.client;
  let info: DockerInfo;
  try {
    info = await dockerInfo();
  } catch (err) {
    report.ok = false;
    report.docker.error = (err as Error).message;
    report.advice.push((err as Error).message);
    return report;
  }
  const podman = version.serverComponents.some((name) => /podman/i.test(name));
  Object.assign(report.docker, {
    engine: podman ? "Podman" : "Docker",
    serverVersion: info.serverVersion,
    os: info.os,
    arch: info.arch,
    rootless: info.rootless,
    podman,
    cgroup: `v${info.cgroupVersion || "?"} (${info.cgroupDriver || "?"})`,
  });
  try {
    const t = await detectTopology();
    report.docker.endpoint = t.endpoint;
    report.topology = {
      kind: t.kind, mode: t.mode, dialHost: t.dialHost, publishHost: t.publishHost, tlsSans: t.tlsSans, reason: t.reason, endpoint: t.endpoint,
      processContainer: t.processContainer,
      address: t.mode === "network" ? "each container's address on the environment's network (this process's container joins it)" : t.dialHost,
    };

  } catch (err) {
    report.ok = false;
    report.advice.push((err as Error).message);
  }
  report.image.present = await imageExists(image).catch(() => undefined);
  let probeImage: string | undefined = report.image.present ? image : undefined;
  if (!probeImage) {
    probeImage = (await listImages().catch(() => []))[0];
    report.advice.push(`image ${image} is not present on this daemon; the first start pulls it (or \`docker load\` it on an offline host)`);
  }
  if (probeImage) {
    report.privilege = await resolvePrivilege(probeImage, info.id).then(describePrivilege, (e) => ({ mode: "unknown" as const, detail: (e as Error).message }));
    if (report.privilege?.mode === "refused") {
      report.ok = false;
      report.advice.push(`this daemon refuses privileged containers, which k3s needs (${report.privilege.detail}); run k3sbox where \`docker run --privileged\` works`);
    }
    report.inotify = await readInotifyLimits(probeImage).catch((e) => ({ error: (e as Error).message.split("\n")[0] }));
    const advice = "maxUserInstances" in report.inotify ? inotifyAdvice(report.inotify) : undefined;
    if (advice) report.advice.push(advice);
  } else {
    report.privilege = { mode: "unknown", detail: "no local image to probe with" };
  }
  if (info.rootless) {
    report.ok = false;
    report.advice.push(
      "rootless Docker: the runner works, but a k3s node needs to create cgroups, which a rootless daemon cannot delegate on cgroup v1; " +
        "k3s() fails at once there (it never falls back to a fake node). Use a rootful daemon, or a cgroup v2 host with systemd delegation",
    );
  }
  if (podman) {
    report.advice.push(
      "Podman's Docker API: the runner, networks, aliases, exec and cleanup work with the docker CLI; network aliases need Podman's DNS " +
        "(the dnsname CNI plugin, Debian: golang-github-containernetworking-plugin-dnsname, or netavark with aardvark-dns); as root, set default_ulimits in " +
        "/etc/containers/containers.conf if containers fail with an rlimit error (Podman raises nofile/nproc above some hosts' hard limits)",
    );
  }
  return report;
}

export function doctorText(r: DoctorReport): string {
  const lines = [`k3sbox doctor: ${r.ok ? "ready" : "something stands in the way (see below)"}`];
  const d = r.docker;
  lines.push(`  daemon      ${d.endpoint}${d.engine ? ` — ${d.engine} ${d.serverVersion} (${d.os}, ${d.arch}), cgroup ${d.cgroup}, rootless: ${d.rootless ? "yes" : "no"}` : ""}`);
  if (d.cliVersion) lines.push(`  docker CLI  ${d.cliVersion}`);
  if (d.error) lines.push(`  error       ${d.error}`);
  if (r.topology) {
    lines.push(`  topology    ${r.topology.kind}: ${r.topology.reason}`);
    lines.push(`  address     ${r.topology.address}${r.topology.mode === "published" && r.topology.publishHost !== "127.0.0.1" ? `; ports published on ${r.topology.publishHost} (and the daemon host's 127.0.0.1)` : r.topology.mode === "published" ? "; ports published on 127.0.0.1" : ""}`);
    if (r.topology.tlsSans.length) lines.push(`  TLS SANs    ${r.topology.tlsSans.join(", ")} (added to the API server's certificate)`);
  }
  if (r.privilege) lines.push(`  privilege   ${r.privilege.mode}: ${r.privilege.detail}`);
  if (r.inotify) {
    lines.push(`  inotify     ${"error" in r.inotify ? `unknown (${r.inotify.error})` : `max_user_instances ${r.inotify.maxUserInstances}, max_user_watches ${r.inotify.maxUserWatches} on the daemon's host`}`);
  }
  lines.push(`  image       ${r.image.reference}: ${r.image.present === undefined ? "unknown" : r.image.present ? "present" : "not present"}`);
  for (const a of r.advice) lines.push(`  to change   ${a}`);
  return lines.join("\n");
}
