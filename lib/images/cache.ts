// The host-side image cache. Images a cluster needs at boot are fetched once
// through the Docker daemon the cluster runs on (so its login, mirrors and
// proxy apply), saved as a `docker save` tarball into a named volume of their
// own on that daemon, and mounted read-only into every node, whose start
// script links them into k3s's airgap directory: containerd imports them at
// start instead of pulling. One volume per image (reference + image id) makes
// `docker volume ls` the cache's index: no state on the test host, and it
// works wherever the daemon is.

import { createHash } from "node:crypto";
import { DockerError, imageId, type ImagePullError, imageSaveCommand, pullImage, runThrowaway, type ThrowawaySpec, throwawayCommand } from "../docker.ts";
import { createVolume, listVolumes, removeVolumes, type VolumeMount } from "../docker/volumes.ts";
import { isImageReference } from "../image-ref.ts";
import { runPipeline } from "../exec.ts";

export const LABEL_CACHE = "k3sbox.cache";
export const LABEL_IMAGE_REF = "k3sbox.image.ref";
export const LABEL_IMAGE_ID = "k3sbox.image.id";
/** Where a node sees the cache: one read-only directory per image, each holding `image.tar`. */
export const CACHE_MOUNT_DIR = "/var/lib/k3sbox/images";
const SAVE_TIMEOUT_MS = 600_000;

/** Where an image handed to a node came from this time. */
export type ImageSource = "cache" | "daemon" | "network";

export interface CachedImage {
  ref: string;
  /** The image id (`sha256:…`) the tarball holds. */
  id: string;
  volume: string;
}

export interface SuppliedImage extends CachedImage {
  source: ImageSource;
  /** Docker has this very image (same id) under `ref`, so `docker save` can stream it. */
  onDaemon: boolean;
}

/** An image a cluster needs cannot be had: not cached, not on the daemon, and the pull failed. */
export class ImageSupplyError extends Error {
  constructor(readonly ref: string, readonly pullError: Error) {
    const said = ((pullError as ImagePullError).stderr ?? pullError.message).trim().split("\n").filter(Boolean).slice(-2).join(" / ");
    const limited = /toomanyrequests|rate limit|429/i.test(said);
    super(
      `image ${ref} is not in k3sbox's image cache nor in Docker, and Docker could not pull it: ${said}\n` +
        (limited
          ? "The registry is rate-limiting this address (Docker Hub allows 10 anonymous pulls per hour). k3sbox pulls through your Docker daemon, so `docker login` raises the limit; a `registry-mirrors` entry in the daemon's daemon.json avoids Docker Hub; or pull it once where you can and `docker load` it here."
          : `Pull or load it into this Docker yourself (\`docker pull ${ref}\`, or \`docker load\` on an offline host), or warm the cache ahead of time with \`k3sbox images warm\`.`),
      { cause: pullError },
    );
    this.name = "ImageSupplyError";
  }
}

/** The volume that holds `ref` at image `id` (names stay short and valid whatever the reference). */
export function cacheVolumeName(ref: string, id: string): string {
  return `k3sbox-image-${createHash("sha256").update(`${ref}\n${id}`).digest("hex").slice(0, 20)}`;
}

/** The mount that hands a cached image to a node. */
export function cacheMount(image: CachedImage): VolumeMount {
  return { volume: image.volume, target: `${CACHE_MOUNT_DIR}/${image.volume}`, readOnly: true };
}

/** Everything the cache holds, newest saves last. */
export async function listCache(): Promise<CachedImage[]> {
  const vols = await listVolumes([`${LABEL_CACHE}=image`]);
  return vols
    .filter((v) => v.labels[LABEL_IMAGE_REF] && v.labels[LABEL_IMAGE_ID])
    .map((v) => ({ ref: v.labels[LABEL_IMAGE_REF], id: v.labels[LABEL_IMAGE_ID], volume: v.name }));
}

/** The daemon's image id for `ref`, or undefined when it does not have it. */
export function daemonImageId(ref: string): Promise<string | undefined> {
  return imageId(ref);
}

/**
 * `docker save ref` into a new cache volume, through a short-lived helper
 * container of `helperImage` (any image with /bin/sh, cat and mv: the node
 * image) with no network. The tarball is written under a temporary name and
 * renamed to image.tar by a second helper only once `docker save` has
 * exited 0, so a save cut short (a killed process) never leaves a truncated
 * image.tar; a failed save removes the volume again.
 */
export async function saveToCache(ref: string, id: string, helperImage: string): Promise<CachedImage> {
  const volume = cacheVolumeName(ref, id);
  await createVolume(volume, { [LABEL_CACHE]: "image", [LABEL_IMAGE_REF]: ref, [LABEL_IMAGE_ID]: id });
  const part = `image.tar.${crypto.randomUUID()}`;
  const helper = (script: string, ...args: string[]): ThrowawaySpec => ({
    image: helperImage, interactive: true, labels: { [LABEL_CACHE]: "writer" }, mounts: [{ volume, target: "/cache" }],
    entrypoint: "/bin/sh", command: ["-c", script, "sh", ...args],
  });
  const r = await runPipeline(imageSaveCommand([ref]), throwawayCommand(helper('cat > "/cache/$1"', part)), { timeoutMs: SAVE_TIMEOUT_MS });
  let failure = r.timedOut ? `not done within ${SAVE_TIMEOUT_MS / 1000}s` : r.first.code !== 0 ? r.first.stderr.trim() : r.second.code !== 0 ? r.second.stderr.trim() : "";
  if (!failure) {
    await runThrowaway(helper('mv "/cache/$1" /cache/image.tar && printf "%s\\n" "$2" > /cache/ref', part, ref)).catch((err) => {
      if (!(err instanceof DockerError)) throw err;
      failure = err.stderr.trim();
    });
  }
  if (failure) {
    await removeVolumes([volume]).catch(() => {});
    throw new Error(`k3sbox image cache: saving ${ref} into volume ${volume} failed: ${failure}`);
  }
  return { ref, id, volume };
}

/** Forgets a cache entry that turned out unusable (e.g. a save cut short), so the next supply saves it anew. */
export async function dropFromCache(image: CachedImage): Promise<void> {
  await removeVolumes([image.volume]);
}

export interface SupplyOptions {
  /** An image with /bin/sh and cat to write volumes with (the node image). */
  helperImage: string;
  progress?: (message: string) => void;
}

export interface SupplyResult {
  supplied: SuppliedImage[];
  /** Images that could not be had, each with what Docker said. */
  unavailable: ImageSupplyError[];
}

/**
 * Makes sure each reference is in the cache and says where it came from:
 * the cache (nothing fetched), the daemon's own store (saved into the
 * cache), or the network (pulled by the daemon, then saved). A daemon that
 * has the reference at another id than the cache (a moved tag) wins. An
 * image that cannot be had is reported in `unavailable`, not thrown.
 */
export async function supplyWhatCan(refs: readonly string[], opts: SupplyOptions): Promise<SupplyResult> {
  for (const ref of refs) {
    if (!isImageReference(ref)) throw new TypeError(`k3sbox image cache: not an image reference: ${JSON.stringify(ref)}`);
  }
  const unique = [...new Set(refs)];
  const [cache, ids] = await Promise.all([listCache(), Promise.all(unique.map(daemonImageId))]);
  const result: SupplyResult = { supplied: [], unavailable: [] };
  // Saves and pulls one at a time: each is disk- or network-bound.
  for (const [i, ref] of unique.entries()) {
    const id = ids[i];
    const cached = cache.filter((c) => c.ref === ref);
    if (id !== undefined) {
      const hit = cached.find((c) => c.id === id);
      if (hit) result.supplied.push({ ...hit, source: "cache", onDaemon: true });
      else {
        opts.progress?.(`image cache: saving ${ref} from Docker (once per image)`);
        result.supplied.push({ ...await saveToCache(ref, id, opts.helperImage), source: "daemon", onDaemon: true });
      }
      continue;
    }
    if (cached.length > 0) {
      result.supplied.push({ ...cached[cached.length - 1], source: "cache", onDaemon: false });
      continue;
    }
    opts.progress?.(`image cache: pulling ${ref} through Docker (once per image)`);
    try {
      await pullImage(ref);
    } catch (err) {
      result.unavailable.push(new ImageSupplyError(ref, err as Error));
      continue;
    }
    const pulled = await daemonImageId(ref);
    if (!pulled) result.unavailable.push(new ImageSupplyError(ref, new Error("docker pull succeeded but the image is not there")));
    else result.supplied.push({ ...await saveToCache(ref, pulled, opts.helperImage), source: "network", onDaemon: true });
  }
  return result;
}

/** Like `supplyWhatCan`, but an image that cannot be had is thrown (`ImageSupplyError`). */
export async function supplyImages(refs: readonly string[], opts: SupplyOptions): Promise<SuppliedImage[]> {
  const r = await supplyWhatCan(refs, opts);
  if (r.unavailable.length > 0) throw r.unavailable[0];
  return r.supplied;
}

/** One progress line: what came from where. */
export function describeSupply(images: readonly SuppliedImage[]): string {
  const by = (s: ImageSource) => images.filter((i) => i.source === s).map((i) => i.ref);
  const parts = [
    ["from the cache", by("cache")],
    ["saved from Docker", by("daemon")],
    ["pulled from the network", by("network")],
  ].filter(([, list]) => list.length > 0).map(([what, list]) => `${list.length} ${what} (${(list as string[]).join(", ")})`);
  return `node images: ${parts.join("; ") || "none needed"}`;
}

/** Removes cached images (all, or those whose reference `match` accepts); volumes a node still mounts stay. */
export async function pruneCache(match: (img: CachedImage) => boolean = () => true): Promise<{ removed: CachedImage[]; inUse: CachedImage[] }> {
  const doomed = (await listCache()).filter(match);
  const removed: CachedImage[] = [];
  const inUse: CachedImage[] = [];
  for (const img of doomed) {
    try {
      await removeVolumes([img.volume]);
      removed.push(img);
    } catch {
      inUse.push(img);
    }
  }
  return { removed, inUse };
}
