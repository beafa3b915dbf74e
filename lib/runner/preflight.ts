// Checks before anything is created, each failing with what to do about it:
// Docker reachable, images present (or pulled), privileged containers allowed
// when a service needs them.

import { docker, dockerInfo, imageExists, type ImagePullError, probePrivileged, pullImage } from "../docker.ts";
import type { ServiceDefinition } from "../service.ts";

/** The host refuses `--privileged` containers, which the service needs. */
export class PrivilegedRefusedError extends Error {
  constructor(readonly service: string, readonly image: string, detail: string) {
    super(
      `service "${service}" (${image}) needs a privileged container — k3s runs containerd, the kubelet and ` +
        `iptables inside it — but this Docker host refuses privileged containers:\n  ${detail}\n` +
        `Run it where \`docker run --privileged\` works (a VM, Docker Desktop, a CI runner with Docker), ` +
        `or, for tests, use an unprivileged k3s-compatible image (see testbed/ in the k3sbox repository).`,
    );
    this.name = "PrivilegedRefusedError";
  }
}

/** An image is neither present nor pullable. */
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

/** Probes privileged support with whatever image is local; undefined when allowed or unknown. */
async function privilegedRefusalWithAnyImage(): Promise<string | undefined> {
  try {
    const images = (await docker(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])).split("\n").filter((i) => i && !i.includes("<none>"));
    if (images.length === 0) return undefined;
    const probe = await probePrivileged(images[0]);
    return probe.allowed ? undefined : probe.detail;
  } catch {
    return undefined;
  }
}

export interface PreflightResult {
  dockerVersion: string;
  dockerHubMirrors: string[];
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
        const refusal = await privilegedRefusalWithAnyImage();
        if (refusal) unavailable.message += `\nAlso, this Docker host refuses privileged containers, which k3s needs:\n  ${refusal}`;
      }
      throw unavailable;
    }
  }));

  for (const [key, def] of Object.entries(services)) {
    if (!def.privileged) continue;
    const probe = await probePrivileged(def.image.reference);
    if (!probe.allowed) throw new PrivilegedRefusedError(key, def.image.reference, probe.detail);
  }
  return { dockerVersion: info.serverVersion, dockerHubMirrors: info.registryMirrors };
}
