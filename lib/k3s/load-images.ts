// loadImages(...refs): images from the host's Docker into the k3s node's
// containerd, so pods run them with `imagePullPolicy: Never` (or IfNotPresent)
// and no registry. `docker save` of the host platform only is streamed into
// `ctr images import -` inside the node through `docker exec -i`: no
// temporary file, nothing held in memory. Docker's containerd image store
// saves every platform of an index whose other platforms it may not have;
// `--platform` on both ends keeps to the host's (Docker ≥ 28 has it on
// save; the classic store saves one platform anyway).

import { execCommand, imageExists, imageSaveCommand, listImages, saveSupportsPlatform, serverPlatform, throwawayCommand } from "../docker.ts";
import { hasTagOrDigest, isImageReference, normalizeReference } from "../image-ref.ts";
import { runPipeline } from "../exec.ts";
import { cacheMount, type CachedImage } from "../images/cache.ts";

/** Where k3s's containerd listens (also the test image's). */
export const CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock";
/** The containerd namespace the kubelet (CRI) uses. */
export const CRI_NAMESPACE = "k8s.io";
export const LOAD_TIMEOUT_MS = 600_000;

/** One image `loadImages()` copied into the cluster's nodes. */
export interface LoadedImage {
  /** As given, e.g. "app:dev". */
  reference: string;
  /** As containerd and the kubelet name it, e.g. "docker.io/library/app:dev". */
  name: string;
}

/**
 * `loadImages()` could not copy an image into a node (not in the host's
 * Docker, `docker save` or the node's import failed, or not done in time);
 * the message names the image and the step. A malformed reference is a
 * TypeError, thrown before anything runs.
 *
 * @example
 * ```ts
 * import { k3s, LoadImagesError, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.loadImages("app:dev");
 * } catch (err) {
 *   if (!(err instanceof LoadImagesError)) throw err;
 *   console.error(`build app:dev first: ${err.message}`);
 * }
 * ```
 */
export class LoadImagesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LoadImagesError";
  }
}

let hostPlatform: Promise<string> | undefined;
/** "linux/amd64": the Docker engine's platform, which the node shares. */
function dockerPlatform(): Promise<string> {
  hostPlatform ??= serverPlatform();
  return hostPlatform;
}

let savePlatformFlag: Promise<boolean> | undefined;
/** Does this docker CLI's `save` take `--platform` (Docker ≥ 28)? */
function saveTakesPlatform(): Promise<boolean> {
  savePlatformFlag ??= saveSupportsPlatform();
  return savePlatformFlag;
}

/** Between ctr's import report and its image list in the importer's output. */
export const LIST_MARKER = "--- k3sbox: images in containerd ---";

// Import, then list in the same `docker exec` (one exec less than asking
// separately). The values reach the node's shell as positional parameters.
const IMPORT_THEN_LIST = `ctr --address "$1" --namespace "$2" images import --platform "$3" - && echo "$4" && ` +
  `exec ctr --address "$1" --namespace "$2" images list --quiet`;

/** The two commands of the pipeline (pure, for tests). */
export function loadCommands(container: string, refs: string[], platform: string, savePlatform: boolean) {
  return {
    save: imageSaveCommand(refs, savePlatform ? platform : undefined),
    importer: execCommand(container, ["sh", "-c", IMPORT_THEN_LIST, "sh", CONTAINERD_SOCKET, CRI_NAMESPACE, platform, LIST_MARKER]),
  };
}

function checkRefs(refs: unknown[]): string[] {
  if (refs.length === 0) throw new TypeError('loadImages(): give at least one image reference, e.g. loadImages("app:dev")');
  refs.forEach((r, i) => {
    if (!isImageReference(r)) {
      throw new TypeError(
        `loadImages(): argument ${i + 1} must be an image reference such as "app:dev" or "registry.example.com/team/app:1.2" (lowercase path; an image ID is not enough, the node needs a name); got ${
          JSON.stringify(r)
        }`,
      );
    }
  });
  return refs as string[];
}

/** The tags the host has of a reference's repository ("app:1", "app:2"), for a hint when the one named is missing. */
async function tagsOf(ref: string): Promise<string[]> {
  const repo = ref.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
  return (await listImages(repo).catch(() => [])).slice(0, 5);
}

/** Names of the images the host's Docker does not have (asked only after `docker save` failed). */
async function missingOnHost(refs: string[]): Promise<string[]> {
  const missing = [];
  for (const ref of refs) if (!(await imageExists(ref))) missing.push(ref);
  return missing;
}

/**
 * Copies images from the host's Docker into the containerd of the node
 * running in `container`, and checks containerd lists each under its full
 * name afterwards (ctr's transfer-service output is a progress table, not a list).
 */
export async function loadImages(container: string, refs: unknown[], opts: { timeoutMs?: number } = {}): Promise<LoadedImage[]> {
  // `docker save app` saves every tag of app; containerd then has app:1 but not the app:latest
  // the bare name means. Save exactly what is meant.
  const given = checkRefs(refs);
  const images = given.map((r) => (hasTagOrDigest(r) ? r : `${r}:latest`));
  const [platform, savePlatform] = await Promise.all([dockerPlatform(), saveTakesPlatform()]);
  const { save, importer } = loadCommands(container, images, platform, savePlatform);
  const r = await runPipeline(save, importer, { timeoutMs: opts.timeoutMs ?? LOAD_TIMEOUT_MS });
  if (r.timedOut) throw new LoadImagesError(`loadImages(): not done within ${(opts.timeoutMs ?? LOAD_TIMEOUT_MS) / 1000}s (docker save | ctr images import)`);
  if (r.first.code !== 0) {
    const missing = await missingOnHost(images);
    if (missing.length > 0) {
      const others = (await Promise.all(missing.map((m) => tagsOf(m)))).flat();
      throw new LoadImagesError(
        `loadImages(): ${missing.map((m) => JSON.stringify(m)).join(", ")} ${missing.length === 1 ? "is" : "are"} not in the host's Docker; build or pull ${
          missing.length === 1 ? "it" : "them"
        } first${others.length ? `, or name a tag it has: ${others.join(", ")}` : ""} (\`docker images\` lists what is there)`,
      );
    }
    throw new LoadImagesError(`loadImages(): docker save failed (exit ${r.first.code}): ${r.first.stderr.trim()}`);
  }
  if (r.second.code !== 0) {
    throw new LoadImagesError(
      `loadImages(): ctr images import in container ${container} failed (exit ${r.second.code}): ${(r.second.stderr || r.second.stdout).trim()}`,
    );
  }

  return checkImported(given, images, r.second.stdout);
}

/**
 * Imports an image from k3sbox's image cache (a volume on the daemon) into
 * the node's containerd, streamed out of the volume by a short-lived helper
 * container of `helperImage` (the node image): the daemon itself need not
 * have the image any more.
 */
export async function importCachedImage(container: string, image: CachedImage, helperImage: string, opts: { timeoutMs?: number } = {}): Promise<LoadedImage[]> {
  const platform = await dockerPlatform();
  const { importer } = loadCommands(container, [image.ref], platform, false);
  const reader = throwawayCommand({
    image: helperImage, entrypoint: "/bin/cat", command: ["/cache/image.tar"], mounts: [{ ...cacheMount(image), target: "/cache" }],
  });
  const r = await runPipeline(reader, importer, { timeoutMs: opts.timeoutMs ?? LOAD_TIMEOUT_MS });
  if (r.timedOut || r.first.code !== 0 || r.second.code !== 0) {
    const why = r.timedOut ? "timed out" : r.first.code !== 0 ? `reading volume ${image.volume}: ${r.first.stderr.trim()}` : (r.second.stderr || r.second.stdout).trim();
    throw new LoadImagesError(`importing ${image.ref} from k3sbox's image cache into container ${container} failed: ${why}`);
  }
  return checkImported([image.ref], [image.ref], r.second.stdout);
}

/**
 * Checks containerd lists each image under its full name (the importer's
 * output after LIST_MARKER); `tagged[i]` is `given[i]` with the tag it means.
 */
function checkImported(given: string[], tagged: string[], importerOutput: string): LoadedImage[] {
  const wanted = tagged.map((t, i) => ({ reference: given[i], name: normalizeReference(t) }));
  const [report, list] = importerOutput.split(`${LIST_MARKER}\n`);
  const present = new Set((list ?? "").split("\n").map((l) => l.trim()));
  const absent = wanted.filter((w) => !present.has(w.name));
  if (absent.length > 0) {
    throw new LoadImagesError(
      `loadImages(): ctr reported success but the node has no ${absent.map((a) => a.name).join(", ")} (ctr said: ${report.trim() || "nothing"})`,
    );
  }
  return wanted;
}
