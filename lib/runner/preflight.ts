// Checks before anything is created, each failing with what to do about it:
// Docker reachable, images present (or pulled), privileged containers allowed
// (or their capability fallback) when a service needs them.

import { dockerInfo, imageExists, type ImagePullError, listImages, type Privilege, pullImage } from "../docker.ts";
import type { ServiceDefinition } from "../service.ts";
import { fallbackNotice, type PrivilegeResolution, resolvePrivilege } from "./privilege.ts";

type Refused = PrivilegeResolution & { ok: false };

/** `rancher/k3s:…`, `k3s@sha256:…`: an image whose repository's last part is `k3s`. */
function isK3sImage(image: string): boolean {
  return /(^|\/)k3s$/.test(image.replace(/@.*$/, "").replace(/:[^/]*$/, ""));
}

/** Docker's refusal of --privileged and, when tried, of the capability fallback. */
function refusalStory(r: Refused): string {
  const fallback = r.fallback
    ? `the fallback (all capabilities${r.fallback.drop.length ? ` but ${r.fallback.drop.map((c) => `CAP_${c}`).join(", ")}` : ""}, ` +
      `unconfined seccomp/AppArmor/system paths, all devices, writable cgroups): ${r.fallback.detail}`
    : "no capability fallback: Docker refused --privileged for another reason than capabilities";
  return `  --privileged: ${r.refusal}\n  ${fallback}`;
}

/**
 * The host refuses `--privileged` containers (and their capability fallback), which the service needs.
 *
 * @example
 * ```ts
 * import { k3s, PrivilegedRefusedError, startEnvironment } from "k3sbox";
 *
 * try {
 *   await using env = await startEnvironment({ services: { k8s: k3s() } });
 * } catch (err) {
 *   if (!(err instanceof PrivilegedRefusedError)) throw err;
 *   console.error(`k3s needs privileged containers; ${err.service} was refused: ${err.message}`);
 * }
 * ```
 */
export class PrivilegedRefusedError extends Error {
  constructor(readonly service: string, readonly image: string, readonly resolution: Refused) {
    const k3s = isK3sImage(image);
    super(
      `service "${service}" (${image}) needs a privileged container` +
        (k3s ? " — k3s runs containerd, the kubelet and iptables inside it —" : " (privileged: true),") +
        ` but this Docker host refuses privileged containers:\n${refusalStory(resolution)}\n` +
        `Run it where \`docker run --privileged\` works (a VM, Docker Desktop, a CI runner with Docker)` +
        (k3s ? ", or, for tests, use an unprivileged k3s-compatible image (see testbed/ in the k3sbox repository)." : "."),
    );
    this.name = "PrivilegedRefusedError";
  }
}

/**
 * An image is neither present nor pullable.
 *
 * @example
 * ```ts
 * import { ImageUnavailableError, k3s, startEnvironment } from "k3sbox";
 *
 * try {
 *   await using env = await startEnvironment({ services: { k8s: k3s({ image: "registry.example.test/mirror/rancher/k3s" }) } });
 * } catch (err) {
 *   if (!(err instanceof ImageUnavailableError)) throw err;
 *   console.error(`load ${err.image} onto this host first`);
 * }
 * ```
 */
export class ImageUnavailableError extends Error {
  constructor(readonly service: string, readonly image: string, pullError: ImagePullError | Error) {
    super(
      `service "${service}": image ${image} is not present locally and \`docker pull\` failed:\n  ${
        ((pullError as ImagePullError).stderr ?? pullError.message).trim().split("\n").slice(-3).join("\n  ")
      }\nPull or load it yourself (\`docker pull ${image}\`, or \`docker load\` on an offline host), then retry.`,
      { cause: pullError },
    );
    this.name = "ImageUnavailableError";
  }
}

/** Probes privileged support with whatever image is local; undefined when allowed (maybe by the fallback) or unknown. */
async function privilegedRefusalWithAnyImage(daemonId: string): Promise<Refused | undefined> {
  try {
    const images = await listImages();
    if (images.length === 0) return undefined;
    const r = await resolvePrivilege(images[0], daemonId);
    return r.ok ? undefined : r;
  } catch {
    return undefined;
  }
}

/**
 * A service that needs to create cgroups (privileged under the host's cgroup
 * namespace, as a k3s node is) on a rootless daemon with cgroup v1, which
 * cannot delegate cgroups to it: fails before anything is created, instead
 * of a node that cannot start (or an image that quietly runs without one).
 */
export class RootlessCgroupError extends Error {
  constructor(readonly service: string, readonly image: string) {
    super(
      `service "${service}" (${image}) needs to create cgroups${isK3sImage(image) ? " — a k3s node runs the kubelet and containerd —" : ""}, ` +
        `but this Docker daemon is rootless on cgroup v1, which cannot delegate cgroups to a container. ` +
        `Use a rootful Docker daemon (DOCKER_HOST or \`docker context use\`), or a cgroup v2 host with systemd delegation for the rootless daemon.`,
    );
    this.name = "RootlessCgroupError";
  }
}

/** The first service a rootless cgroup-v1 daemon cannot run (pure, for tests). */
export function rootlessBlocker(
  info: { rootless: boolean; cgroupVersion: string },
  services: Record<string, { privileged?: boolean; cgroupns?: string; image: { reference: string } }>,
): RootlessCgroupError | undefined {
  if (!info.rootless || info.cgroupVersion !== "1") return undefined;
  const found = Object.entries(services).find(([, d]) => d.privileged && d.cgroupns === "host");
  return found ? new RootlessCgroupError(found[0], found[1].image.reference) : undefined;
}

export interface PreflightResult {
  dockerVersion: string;
  dockerHubMirrors: string[];
  /** How each `privileged: true` service runs: `--privileged`, or the capability fallback. */
  privileges: Record<string, Privilege>;
}

/**
 * Runs every check; images of different services are fetched concurrently.
 * `progress` hears about pulls, which can be long.
 */
export async function preflight(
  services: Record<string, ServiceDefinition<unknown>>,
  progress: (m: string) => void,
): Promise<PreflightResult> {
  const info = await dockerInfo();
  const rootless = rootlessBlocker(info, services);
  if (rootless) throw rootless;
  const images = new Map<string, string>(); // image → first service using it
  for (const [key, def] of Object.entries(services)) if (!images.has(def.image.reference)) images.set(def.image.reference, key);

  await Promise.all([...images].map(async ([image, key]) => {
    if (await imageExists(image)) return;
    progress(`pulling ${image} (not present locally)`);
    try {
      await pullImage(image);
    } catch (err) {
      const unavailable = new ImageUnavailableError(key, image, err as Error);
      if (services[key].privileged) {
        // Tell the whole story at once: with the image, would it even run here?
        const refused = await privilegedRefusalWithAnyImage(info.id);
        if (refused) {
          unavailable.message += `\nAlso, this Docker host refuses privileged containers, which ${isK3sImage(image) ? "k3s needs" : "the service asks for"}:\n` +
            refusalStory(refused);
        }
      }
      throw unavailable;
    }
  }));

  const privileges: Record<string, Privilege> = {};
  for (const [key, def] of Object.entries(services)) {
    if (!def.privileged) continue;
    const r = await resolvePrivilege(def.image.reference, info.id);
    if (!r.ok) throw new PrivilegedRefusedError(key, def.image.reference, r);
    if (r.privilege.mode === "capabilities") progress(fallbackNotice(key, r.privilege, def.cgroupns));
    privileges[key] = r.privilege;
  }
  return { dockerVersion: info.serverVersion, dockerHubMirrors: info.registryMirrors, privileges };
}
