// The images a k3s node needs, handed over from the host side (see
// lib/images/): before the node is created, its system images (learned from
// earlier boots of the same node image) and the images k3s()'s own setup
// deploys are supplied from the cache and mounted; the start script links
// them into k3s's airgap directory. The first boot of a node image the cache
// has not seen learns its system images from the node (k3s's staged
// manifests and containerd config), supplies the ones it lacks into the
// running node and records the list, so every later boot pulls nothing.

import type { HelperContext, PrepareContext, PreparedContainer } from "../service.ts";
import { cacheMount, daemonImageId, describeSupply, type SuppliedImage, supplyImages } from "../images/cache.ts";
import { nodeConfigKey, parseImageRefs, recordedSystemImages, recordSystemImages } from "../images/system-images.ts";
import { importCachedImage } from "./load-images.ts";
import { REGISTRY_IMAGE, TRAEFIK_IMAGE } from "./manifests.ts";
import type { ResolvedK3sOptions } from "./options.ts";
import { sleep } from "../sleep.ts";

/** k3s's airgap directory: tarballs here are imported into containerd at start. */
export const AIRGAP_DIR = "/var/lib/rancher/k3s/agent/images";
const MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests";
const CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml";
/** k3s's packaged manifests that name images (metrics-server and Traefik are disabled by k3s()). */
const PACKAGED = ["coredns", "local-storage"];
const LEARN_TIMEOUT_MS = 60_000;

/** The images k3s()'s setup deploys. */
export function setupImages(opts: ResolvedK3sOptions): string[] {
  return opts.registry ? [TRAEFIK_IMAGE, REGISTRY_IMAGE] : [TRAEFIK_IMAGE];
}

/** Packaged components turned off by `--disable` in extraArgs (`--disable=a,b` or `--disable a`). */
export function disabledComponents(extraArgs: readonly string[]): Set<string> {
  const out = new Set<string>();
  extraArgs.forEach((a, i) => {
    const value = a.startsWith("--disable=") ? a.slice("--disable=".length) : a === "--disable" ? extraArgs[i + 1] : undefined;
    for (const c of (value ?? "").split(",")) if (c) out.add(c.trim());
  });
  return out;
}

/** Before the node is created: supply what is known and mount it. */
export async function prepareNodeImages(opts: ResolvedK3sOptions, ctx: PrepareContext): Promise<PreparedContainer> {
  const nodeId = await daemonImageId(ctx.image);
  const system = nodeId ? await recordedSystemImages(nodeId, nodeConfigKey(opts.extraArgs)) : undefined;
  const supplied = await supplyImages([...(system ?? []), ...setupImages(opts)], { helperImage: ctx.image, progress: ctx.progress });
  ctx.progress(
    `service "${ctx.name}": ${describeSupply(supplied)}` +
      (system ? "" : `; ${ctx.image}'s own system images are not known yet: this boot learns them (later boots get them from the cache)`),
  );
  return { mounts: supplied.map(cacheMount) };
}

/**
 * Shell lines the start script runs before k3s: link each mounted cache
 * tarball into the airgap directory (a volume still being written, with no
 * image.tar yet, is skipped: k3s would then pull that image).
 */
export function linkCachedImagesScript(cacheDir: string, airgapDir = AIRGAP_DIR): string {
  return `mkdir -p ${airgapDir} && for t in ${cacheDir}/*/image.tar; do [ -f "$t" ] || continue; d="\${t%/image.tar}"; ` +
    `ln -sf "$t" "${airgapDir}/k3sbox-\${d##*/}.tar"; done`;
}

// One exec prints the containerd config and every staged manifest, each after a marker line.
const SHOW_STAGED = `cat ${CONTAINERD_CONFIG} 2>/dev/null; for f in ${MANIFESTS_DIR}/*.yaml; do [ -f "$f" ] && echo "--- k3sbox-manifest: \${f##*/}" && cat "$f"; done; true`;

/**
 * After the API server is up, on a node image the cache has not seen: wait
 * (bounded) for k3s to stage its packaged manifests, read the images they
 * and containerd's config name, hand the node those it was not given, and
 * record the list. Returns what was imported now (empty when the list was
 * already known).
 */
export async function learnNodeImages(opts: ResolvedK3sOptions, ctx: HelperContext): Promise<SuppliedImage[]> {
  const nodeId = await daemonImageId(ctx.image);
  const config = nodeConfigKey(opts.extraArgs);
  if (!nodeId || (await recordedSystemImages(nodeId, config)) !== undefined) return [];
  const expected = PACKAGED.filter((c) => !disabledComponents(opts.extraArgs).has(c)).map((c) => `${c}.yaml`);
  const deadline = Date.now() + LEARN_TIMEOUT_MS;
  let text = "";
  for (;;) {
    const r = await ctx.exec(["sh", "-c", SHOW_STAGED], { timeoutMs: 15_000 });
    text = r.stdout;
    const staged = [...text.matchAll(/^--- k3sbox-manifest: (\S+)$/gm)].map((m) => m[1]);
    if (expected.every((e) => staged.includes(e))) break;
    if (Date.now() > deadline || ctx.signal.aborted) {
      ctx.progress(`service "${ctx.name}": k3s staged only ${staged.join(", ") || "no manifests"} within ${LEARN_TIMEOUT_MS / 1000}s; learning the system images from those`);
      break;
    }
    await sleep(250);
  }
  const learned = parseImageRefs(text);
  const missing = learned.filter((r) => !setupImages(opts).includes(r));
  const supplied = await supplyImages(missing, { helperImage: ctx.image, progress: ctx.progress });
  for (const img of supplied) await importCachedImage(ctx.container, img, ctx.image);
  await recordSystemImages(nodeId, config, ctx.image, learned);
  ctx.progress(`service "${ctx.name}": learned ${ctx.image}'s system images (${learned.join(", ") || "none"}); handed them to the node`);
  return supplied;
}
