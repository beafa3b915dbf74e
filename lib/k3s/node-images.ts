// The images a k3s node needs, handed over from the host side (see
// lib/images/): before the node is created, its system images (learned from
// earlier boots of the same node image) and the images k3s()'s own setup
// deploys are supplied from the cache and mounted; the start script links
// them into k3s's airgap directory. The first boot of a node image the cache
// has not seen learns its system images from the node (k3s's staged
// manifests and containerd config), supplies the ones it lacks into the
// running node and records the list, so every later boot pulls nothing.

import type { HelperContext, PrepareContext, PreparedContainer, SetupContext } from "../service.ts";
import type { KubeHelpers } from "../kube/client.ts";
import { cacheMount, daemonImageId, describeSupply, dropFromCache, listCache, type SuppliedImage, supplyImages, supplyWhatCan } from "../images/cache.ts";
import { normalizeReference } from "../image-ref.ts";
import { ensureMirror } from "../images/mirror.ts";
import { nodeConfigKey, parseImageRefs, recordedNodeNeeds, recordNodeNeeds } from "../images/system-images.ts";
import { CONTAINERD_SOCKET, CRI_NAMESPACE, importCachedImage, loadImages } from "./load-images.ts";
import { REGISTRY_IMAGE, SYSTEM_NAMESPACE, TRAEFIK_IMAGE } from "./manifests.ts";
import type { ResolvedK3sOptions } from "./options.ts";
import { sleep } from "../sleep.ts";
import { shellQuote } from "../shell-quote.ts";

/** k3s's airgap directory: tarballs here are imported into containerd at start. */
export const AIRGAP_DIR = "/var/lib/rancher/k3s/agent/images";
/**
 * A node image may come with its system images already in containerd's
 * content store (the node image here does, testbed/image.sh): their
 * references are listed in this file, one per line.
 */
export const SEEDED_LIST = "/var/lib/rancher/k3s/agent/seeded-images";
const MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests";
const CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml";
/** k3s's packaged manifests that name images (metrics-server and Traefik are disabled by k3s()). */
const PACKAGED = ["coredns", "local-storage"];
const LEARN_TIMEOUT_MS = 60_000;
const NODE_REGISTERED_TIMEOUT_MS = 60_000;

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

/**
 * Before the node is created: supply what the node is known to need (its
 * system images and setup's, less what the node image has built in) and
 * mount it. An image that cannot be had is not fatal yet (checked again by
 * `ensureNodeImages` once the node is up). For a node image (and
 * configuration) not seen before, only setup's images are handed over: its
 * first boot learns what it has built in and what it pulls.
 */
export async function prepareNodeImages(opts: ResolvedK3sOptions, ctx: PrepareContext): Promise<PreparedContainer> {
  const nodeId = await daemonImageId(ctx.image);
  const needs = nodeId ? await recordedNodeNeeds(nodeId, nodeConfigKey(opts.extraArgs)) : undefined;
  const wanted = needs ? [...needs.system, ...setupImages(opts)].filter((r) => !needs.builtIn.includes(r)) : setupImages(opts);
  const { supplied, unavailable } = await supplyWhatCan(wanted, { helperImage: ctx.image, progress: ctx.progress });
  ctx.progress(
    `service "${ctx.name}": ${describeSupply(supplied)}` +
      (needs?.builtIn.length ? `; built into the node image: ${needs.builtIn.length}` : "") +
      (unavailable.length ? `; not to be had from the host side: ${unavailable.map((u) => u.ref).join(", ")} (checked on the node once it is up)` : "") +
      (needs ? "" : `; ${ctx.image}'s own system images are not known yet: this boot learns them (later boots get them from the cache)`),
  );
  const mirrors = await Promise.all(Object.values(opts.mirrors).map((upstream) => ensureMirror({ upstream }, ctx.progress)));
  return { mounts: supplied.map(cacheMount), networks: mirrors.length ? [mirrors[0].network] : [] };
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
 * The references the node image's own airgap tarballs carry (normalized),
 * from the `RepoTags` of each `docker save`-format tarball's manifest.json.
 * Compressed or OCI-layout tarballs name nothing here: what they carry is
 * then not counted as built in, and is handed over on every boot as before.
 */
async function ownTarballRefs(ctx: SetupContext<KubeHelpers>, own: string[]): Promise<Set<string>> {
  const tars = own.filter((f) => f.endsWith(".tar")).map((f) => shellQuote(`${AIRGAP_DIR}/${f}`));
  if (tars.length === 0) return new Set();
  const r = await ctx.exec(["sh", "-c", `for t in ${tars.join(" ")}; do tar -xOf "$t" manifest.json 2>/dev/null; echo; done; true`], { timeoutMs: 60_000 });
  const refs = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    try {
      for (const entry of JSON.parse(line) as { RepoTags?: string[] }[]) for (const tag of entry.RepoTags ?? []) refs.add(normalizeReference(tag));
    } catch { /* not a docker save manifest */ }
  }
  return refs;
}

/** Prints the names containerd's CRI namespace has, one per line. */
const LIST_IMAGES = ["ctr", "--address", CONTAINERD_SOCKET, "--namespace", CRI_NAMESPACE, "images", "list", "--quiet"];

/**
 * After the API server is up: make sure the node has every image it will
 * pull. On a node image (and configuration) the cache has not seen, first
 * wait (bounded) for k3s to stage its packaged manifests, read the images
 * they and containerd's config name, and record the list. Whatever the node
 * lacks is supplied now and imported into its containerd; an image nobody
 * can supply fails here, at once, naming the image and the registry's answer
 * (rather than as a rollout timeout later).
 */
export async function ensureNodeImages(opts: ResolvedK3sOptions, ctx: SetupContext<KubeHelpers>): Promise<SuppliedImage[]> {
  // k3s imports its airgap directory before it starts the kubelet, so once
  // the node has registered, what containerd lists is what it has.
  const runtime = await registeredNodeRuntime(ctx);
  if (!runtime.startsWith("containerd://")) {
    // A fake node (the test image's kwok mode) runs no containers: nothing to hand over.
    return [];
  }
  const nodeId = await daemonImageId(ctx.image);
  const config = nodeConfigKey(opts.extraArgs);
  const known = nodeId ? await recordedNodeNeeds(nodeId, config) : undefined;
  const present = await nodeImages(ctx);
  let system = known?.system;
  if (system === undefined) {
    system = await learnSystemImages(opts, ctx);
    // Nothing was handed to this boot yet, so what containerd has came from
    // the image's own store or airgap tarballs — or from a pull, where the
    // network is open: with neither of its own, a node image has nothing built in.
    const listed = (await ctx.exec(["sh", "-c", `ls -A ${AIRGAP_DIR} 2>/dev/null; echo /; cat ${SEEDED_LIST} 2>/dev/null; true`], { timeoutMs: 15_000 })).stdout;
    const lines = listed.split("\n");
    const cut = lines.indexOf("/"); // no file name is "/"
    const [airgap, seededList] = [lines.slice(0, cut), lines.slice(cut + 1)].map((part) => part.filter(Boolean));
    const own = airgap.filter((f) => !f.startsWith("k3sbox-"));
    const seeded = new Set(seededList.map((r) => normalizeReference(r)));
    // What k3sbox mounted (its links are named after the cache volumes) is built in only
    // if the image's own store or one of its own tarballs carries it as well.
    const handed = new Set((await listCache()).filter((c) => airgap.includes(`k3sbox-${c.volume}.tar`)).map((c) => c.ref));
    const ownRefs = handed.size > 0 && own.length > 0 ? await ownTarballRefs(ctx, own) : new Set<string>();
    for (const r of seeded) ownRefs.add(r);
    const builtIn = own.length === 0 && seeded.size === 0 ? [] : [...system, ...setupImages(opts)].filter((r) =>
      present.has(normalizeReference(r)) && (!handed.has(r) || ownRefs.has(normalizeReference(r)))
    );
    if (nodeId) await recordNodeNeeds(nodeId, config, ctx.image, { system, builtIn });
    ctx.progress(`service "${ctx.name}": learned ${ctx.image}'s system images: ${system.join(", ") || "none"}${builtIn.length ? ` (built in: ${builtIn.join(", ")})` : ""}`);
  }
  const missing = [...new Set([...system, ...setupImages(opts)])].filter((r) => !present.has(normalizeReference(r)));
  if (missing.length === 0) return [];
  const supplied = await supplyImages(missing, { helperImage: ctx.image, progress: ctx.progress });
  // The ones Docker has travel in one `docker save … | ctr images import -`
  // stream; only those Docker no longer has come out of their cache volumes.
  const onDaemon = supplied.filter((i) => i.onDaemon).map((i) => i.ref);
  if (onDaemon.length > 0) await loadImages(ctx.container, onDaemon);
  for (const img of supplied.filter((i) => !i.onDaemon)) {
    try {
      await importCachedImage(ctx.container, img, ctx.image);
    } catch (err) {
      // A cache entry without its tarball (a save cut short): drop it and supply the image anew, once.
      if (img.source !== "cache") throw err;
      ctx.progress(`service "${ctx.name}": cache entry ${img.volume} for ${img.ref} is unusable (${(err as Error).message.split("\n")[0]}); saving it again`);
      await dropFromCache(img);
      const [fresh] = await supplyImages([img.ref], { helperImage: ctx.image, progress: ctx.progress });
      await importCachedImage(ctx.container, fresh, ctx.image);
    }
  }
  ctx.progress(`service "${ctx.name}": handed the running node ${supplied.map((s) => s.ref).join(", ")}`);
  await restartPodsStuckOnImages(ctx);
  return supplied;
}

/** The names (as containerd and the kubelet spell them) in the node's containerd. */
async function nodeImages(ctx: HelperContext): Promise<Set<string>> {
  const listed = await ctx.exec(LIST_IMAGES, { timeoutMs: 30_000 });
  if (listed.code !== 0) throw new Error(`k3s(${ctx.name}): could not list the node's images (${(listed.stderr || listed.stdout).trim()})`);
  return new Set(listed.stdout.split("\n").map((l) => l.trim()).filter(Boolean));
}

/**
 * System pods that tried to pull before their image was handed over are in
 * the kubelet's back-off (up to 5 minutes): recreate the pending ones their
 * controllers own, so they start now.
 */
async function restartPodsStuckOnImages(ctx: SetupContext<KubeHelpers>): Promise<void> {
  const pods = (await ctx.helpers.client.core.listNamespacedPod({ namespace: SYSTEM_NAMESPACE })).items ?? [];
  await Promise.all(pods
    .filter((p) => p.status?.phase === "Pending" && (p.metadata?.ownerReferences?.length ?? 0) > 0)
    .map((p) => ctx.helpers.client.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: SYSTEM_NAMESPACE, gracePeriodSeconds: 0 }).catch(() => {})));
}

/** Waits (bounded) until a node has registered and returns its container runtime ("containerd://…"). */
async function registeredNodeRuntime(ctx: SetupContext<KubeHelpers>): Promise<string> {
  const deadline = Date.now() + NODE_REGISTERED_TIMEOUT_MS;
  for (;;) {
    const nodes = (await ctx.helpers.client.core.listNode()).items ?? [];
    if (nodes.length > 0) return nodes[0].status?.nodeInfo?.containerRuntimeVersion ?? "";
    if (Date.now() > deadline || ctx.signal.aborted) {
      throw new Error(`k3s(${ctx.name}): no node registered within ${NODE_REGISTERED_TIMEOUT_MS / 1000}s after the API server was ready; see the container's log`);
    }
    await sleep(250);
  }
}

/** Waits (bounded) for k3s to stage its packaged manifests, then reads the images they and containerd's config name. */
async function learnSystemImages(opts: ResolvedK3sOptions, ctx: HelperContext): Promise<string[]> {
  const expected = PACKAGED.filter((c) => !disabledComponents(opts.extraArgs).has(c)).map((c) => `${c}.yaml`);
  const deadline = Date.now() + LEARN_TIMEOUT_MS;
  for (;;) {
    const r = await ctx.exec(["sh", "-c", SHOW_STAGED], { timeoutMs: 15_000 });
    const staged = [...r.stdout.matchAll(/^--- k3sbox-manifest: (\S+)$/gm)].map((m) => m[1]);
    if (expected.every((e) => staged.includes(e))) return parseImageRefs(r.stdout);
    if (Date.now() > deadline || ctx.signal.aborted) {
      ctx.progress(`service "${ctx.name}": k3s staged only ${staged.join(", ") || "no manifests"} within ${LEARN_TIMEOUT_MS / 1000}s; learning the system images from those`);
      return parseImageRefs(r.stdout);
    }
    await sleep(250);
  }
}
