// `k3sbox images [list|warm|prune]`: what the host-side image cache holds
// (lib/images/), filling it ahead of time (a CI runner's warm-up step), and
// emptying it. The cache is the only thing k3sbox keeps on a daemon between
// runs; `prune` without `--cache` never touches it.

import { listVolumes, removeVolumes } from "../docker/volumes.ts";
import { type CachedImage, LABEL_CACHE, listCache, pruneCache } from "../images/cache.ts";
import { allRecordedNeeds, NODE_NEEDS } from "../images/system-images.ts";
import { removeMirrors } from "../images/mirror.ts";
import { startEnvironment } from "../runner/environment.ts";
import type { ServiceDefinition } from "../service.ts";
import { UsageError } from "./args.ts";

export interface ImageCacheListing {
  images: CachedImage[];
  /** Per node image: the system images its boots learned, and those it has built in. */
  nodeImages: { nodeImage: string; images: string[]; builtIn: string[] }[];
}

export async function listImageCache(): Promise<ImageCacheListing> {
  const [images, recorded] = await Promise.all([listCache(), allRecordedNeeds()]);
  return { images, nodeImages: recorded.map(({ nodeImage, needs }) => ({ nodeImage, images: needs.system, builtIn: needs.builtIn })) };
}

/** Boots the cluster once (which fills the cache and learns the node's system images) and removes it. */
export async function warmImageCache(cluster: ServiceDefinition<any>, progress: (m: string) => void): Promise<ImageCacheListing> {
  const env = await startEnvironment({ services: { k8s: cluster }, onProgress: progress });
  await env.stop();
  return await listImageCache();
}

/** Removes cached images, the learned lists and the shared mirrors; volumes a running node mounts stay (and are reported). */
export async function pruneImageCache(): Promise<{ removed: string[]; inUse: string[]; lists: number; mirrors: string[] }> {
  const mirrors = await removeMirrors();
  const { removed, inUse } = await pruneCache();
  // With the records of earlier versions ("image-list").
  const lists = [...await listVolumes([`${LABEL_CACHE}=${NODE_NEEDS}`]), ...await listVolumes([`${LABEL_CACHE}=image-list`])];
  await removeVolumes(lists.map((l) => l.name));
  return { removed: removed.map((i) => i.ref), inUse: inUse.map((i) => i.ref), lists: lists.length, mirrors };
}

export function imagesAction(positionals: string[]): "list" | "warm" | "prune" {
  const [action = "list", extra] = positionals;
  if (extra !== undefined) throw new UsageError(`k3sbox images: unexpected argument ${JSON.stringify(extra)}`);
  if (action !== "list" && action !== "warm" && action !== "prune") {
    throw new UsageError(`k3sbox images: unknown action ${JSON.stringify(action)}; use list, warm or prune`);
  }
  return action;
}
