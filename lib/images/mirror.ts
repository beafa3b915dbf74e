// The shared pull-through mirror (opt-in: k3s({ mirror: true })): one
// long-lived registry per daemon and upstream (CNCF distribution in proxy
// mode, the `registry:2` image), on a network of its own that each node
// joins, listed first in each cluster's registries.yaml for docker.io. A
// workload image is then fetched from the internet once per daemon, not once
// per cluster. It carries the cache label, so it outlives environments;
// `k3sbox prune --cache` removes it. It publishes no port: only nodes on its
// network reach it. k3sbox stores no credentials: it mirrors anonymously.

import { createHash } from "node:crypto";
import { createContainer, DockerError, ensureNetwork, imageExists, listByLabel, pullImage, removeContainers, removeNetworks, startContainer } from "../docker.ts";
import { createVolume, removeVolumes } from "../docker/volumes.ts";
import { LABEL_CACHE } from "./cache.ts";
import { sleep } from "../sleep.ts";

export const MIRROR_NETWORK = "k3sbox-mirror";
export const MIRROR_PORT = 5000;
export const DOCKER_HUB_UPSTREAM = "https://registry-1.docker.io";
export const MIRROR_IMAGE = "registry:2";
/** What `k3s({ mirror: true })` mirrors: registry name (as in image references) → upstream. */
export const DEFAULT_MIRRORS: Readonly<Record<string, string>> = {
  "docker.io": DOCKER_HUB_UPSTREAM,
  "ghcr.io": "https://ghcr.io",
  "quay.io": "https://quay.io",
  "registry.k8s.io": "https://registry.k8s.io",
};
const LABEL_UPSTREAM = "k3sbox.mirror.upstream";

export interface MirrorOptions {
  /** The registry it mirrors (default Docker Hub). */
  upstream?: string;
}

/** The mirror's container name, which is also its DNS name on the mirror network. */
export function mirrorName(upstream: string): string {
  return `k3sbox-mirror-${createHash("sha256").update(upstream).digest("hex").slice(0, 10)}`;
}

/** The endpoint a node's registries.yaml lists for the mirror. */
export function mirrorEndpoint(upstream: string): string {
  return `http://${mirrorName(upstream)}:${MIRROR_PORT}`;
}

/** Checks the upstream is an http(s) URL with no credentials or path tricks. */
export function validateUpstream(upstream: unknown): string {
  let url: URL | undefined;
  try {
    url = new URL(String(upstream));
  } catch { /* below */ }
  if (typeof upstream !== "string" || !url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
    throw new TypeError(`mirror upstream must be an http(s) registry URL without credentials, such as "${DOCKER_HUB_UPSTREAM}"; got ${JSON.stringify(upstream)}`);
  }
  return upstream.replace(/\/+$/, "");
}

/**
 * Makes sure the mirror for `upstream` runs (creating its network, data
 * volume and container once per daemon; two processes racing both succeed)
 * and returns the network nodes join.
 */
export async function ensureMirror(opts: MirrorOptions = {}, progress?: (m: string) => void): Promise<{ network: string; endpoint: string; name: string }> {
  const upstream = validateUpstream(opts.upstream ?? DOCKER_HUB_UPSTREAM);
  const name = mirrorName(upstream);
  const labels = { [LABEL_CACHE]: "mirror", [LABEL_UPSTREAM]: upstream };
  await ensureNetwork(MIRROR_NETWORK, { [LABEL_CACHE]: "mirror" });
  const existing = (await listByLabel("container", [`${LABEL_CACHE}=mirror`])).find((c) => c.name === name);
  if (existing?.state === "running") return { network: MIRROR_NETWORK, endpoint: mirrorEndpoint(upstream), name };
  if (!existing) {
    if (!(await imageExists(MIRROR_IMAGE))) {
      progress?.(`registry mirror: pulling ${MIRROR_IMAGE}`);
      await pullImage(MIRROR_IMAGE);
    }
    progress?.(`registry mirror: starting ${name} for ${upstream} (shared by every cluster on this Docker daemon; \`k3sbox prune --cache\` removes it)`);
    await createVolume(`${name}-data`, labels);
    try {
      await createContainer({
        name,
        image: MIRROR_IMAGE,
        network: MIRROR_NETWORK,
        aliases: [name],
        labels,
        env: { REGISTRY_PROXY_REMOTEURL: upstream, REGISTRY_HTTP_ADDR: `:${MIRROR_PORT}`, OTEL_TRACES_EXPORTER: "none" },
        mounts: [{ volume: `${name}-data`, target: "/var/lib/registry" }],
      });
    } catch (err) {
      if (!/already in use/.test((err as Error).message)) throw err; // another process created it first
    }
  }
  // Docker reserves a name before the container exists: a start racing another
  // create of it can find no such container for a moment. Retry that, briefly.
  for (const deadline = Date.now() + 10_000; ;) {
    try {
      await startContainer(name);
      break;
    } catch (err) {
      if (!(err instanceof DockerError)) throw err;
      if (!/no such container/i.test(err.stderr) || Date.now() > deadline) throw new Error(`registry mirror ${name} did not start: ${err.stderr.trim()}`);
    }
    await sleep(200);
  }
  return { network: MIRROR_NETWORK, endpoint: mirrorEndpoint(upstream), name };
}

/** Removes every mirror, its data and network (nodes still attached keep the network). */
export async function removeMirrors(): Promise<string[]> {
  const mirrors = await listByLabel("container", [`${LABEL_CACHE}=mirror`]);
  await removeContainers(mirrors.map((m) => m.id));
  await removeVolumes(mirrors.map((m) => `${m.name}-data`)).catch(() => {});
  await removeNetworks([MIRROR_NETWORK]).catch(() => {});
  return mirrors.map((m) => m.name);
}
