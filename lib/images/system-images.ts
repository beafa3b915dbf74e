// Which images a node image pulls at boot ("system images": the pause
// sandbox, CoreDNS, local-path-provisioner and its helper), learned from the
// node itself rather than from one version's hard-coded list: k3s writes its
// packaged manifests (with their image references) under
// server/manifests and names the sandbox image in containerd's config. What
// a boot learned is recorded on the daemon, keyed by the node image's id, so
// every later boot of that image (started the same way) is handed them
// before k3s asks.

import { createHash } from "node:crypto";
import { createVolume, listVolumes } from "../docker/volumes.ts";
import { isImageReference } from "../image-ref.ts";
import { LABEL_CACHE } from "./cache.ts";

export const LABEL_NODE_IMAGE_ID = "k3sbox.node-image.id";
export const LABEL_NODE_IMAGE_REF = "k3sbox.node-image.ref";
export const LABEL_IMAGES = "k3sbox.images";
export const LABEL_NODE_CONFIG = "k3sbox.node-config";
export const LABEL_BUILT_IN = "k3sbox.images.built-in";
/** The cache label of these records; earlier ones (without built-in lists) were "image-list" and are ignored. */
export const NODE_NEEDS = "node-needs";
/**
 * The format of a record's built-in list. Format 1 counted an image k3sbox
 * handed to the learning boot as not built in even when the node image's own
 * tarballs carry it too, so every later boot imported it twice; those records
 * are ignored (and relearned), `k3sbox images prune` still removes them.
 */
export const LABEL_NEEDS_FORMAT = "k3sbox.node-needs.format";
const NEEDS_FORMAT = "2";

/** What boots of a node image learned: the images it pulls, and which of those (and of setup's) it has built in. */
export interface NodeImageNeeds {
  system: string[];
  /** Present in the node's containerd before k3sbox handed it anything (baked into the image). */
  builtIn: string[];
}

// `image: "x"`, `"image": "x"`, and the escaped form inside a JSON string
// (local-path's helperPod.yaml is a string in a ConfigMap).
const IMAGE_FIELD = /\\?"?\bimage\\?"?\s*:\s*\\?["']?([^\s"'\\,}]+)/g;
// containerd's sandbox image: `sandbox_image = "…"` (config v2) or `sandbox = "…"` (v3).
const SANDBOX_FIELD = /^\s*sandbox(?:_image)?\s*=\s*"([^"]+)"/gm;

/** Image references in manifests and containerd configuration text, in order of first appearance. */
export function parseImageRefs(text: string): string[] {
  const found: string[] = [];
  // k3s substitutes its registry placeholder when it stages; tolerate an unsubstituted one.
  const clean = text.replace(/%\{SYSTEM_DEFAULT_REGISTRY\}%/g, "");
  for (const re of [SANDBOX_FIELD, IMAGE_FIELD]) {
    for (const m of clean.matchAll(re)) {
      const ref = m[1];
      if (isImageReference(ref) && !found.includes(ref)) found.push(ref);
    }
  }
  return found;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * What a node pulls depends on its image and on how it is started (k3s's
 * `--disable`, `--pause-image`, `--system-default-registry`, …): lists are
 * kept per image id and configuration.
 */
export function nodeConfigKey(args: readonly string[]): string {
  return sha(JSON.stringify(args)).slice(0, 12);
}

function markerName(nodeImageId: string, config: string, refs: readonly string[]): string {
  return `k3sbox-node-needs-${sha(nodeImageId).slice(0, 12)}-${config}-${sha([...refs].sort().join(" ")).slice(0, 8)}`;
}

/**
 * What earlier boots of the node image `nodeImageId`, started with the same
 * configuration, learned; undefined when no such boot has been seen on this
 * daemon.
 */
export async function recordedNodeNeeds(nodeImageId: string, config: string): Promise<NodeImageNeeds | undefined> {
  const lists = await listVolumes([
    `${LABEL_CACHE}=${NODE_NEEDS}`,
    `${LABEL_NEEDS_FORMAT}=${NEEDS_FORMAT}`,
    `${LABEL_NODE_IMAGE_ID}=${nodeImageId}`,
    `${LABEL_NODE_CONFIG}=${config}`,
  ]);
  return lists.length === 0 ? undefined : mergeNeeds(lists.map((l) => l.labels));
}

/** Every node image the cache has records for (by reference), with what its boots learned. */
export async function allRecordedNeeds(): Promise<{ nodeImage: string; needs: NodeImageNeeds }[]> {
  const byNode = new Map<string, Record<string, string>[]>();
  for (const l of await listVolumes([`${LABEL_CACHE}=${NODE_NEEDS}`, `${LABEL_NEEDS_FORMAT}=${NEEDS_FORMAT}`])) {
    const node = l.labels[LABEL_NODE_IMAGE_REF] ?? "?";
    byNode.set(node, [...(byNode.get(node) ?? []), l.labels]);
  }
  return [...byNode].map(([nodeImage, records]) => ({ nodeImage, needs: mergeNeeds(records) }));
}

/** Several records' labels as one: every image any boot learned; built in only if every record says so. */
function mergeNeeds(records: Record<string, string>[]): NodeImageNeeds {
  const refsOf = (v: string | undefined) => (v ?? "").split(" ").filter((r) => isImageReference(r));
  const system = new Set<string>();
  let builtIn: Set<string> | undefined;
  for (const labels of records) {
    for (const r of refsOf(labels[LABEL_IMAGES])) system.add(r);
    const b = new Set(refsOf(labels[LABEL_BUILT_IN]));
    builtIn = builtIn ? new Set([...builtIn].filter((r) => b.has(r))) : b;
  }
  return { system: [...system], builtIn: [...(builtIn ?? [])] };
}

/** Records what a boot of the node image learned (an empty volume whose labels carry the lists). */
export async function recordNodeNeeds(nodeImageId: string, config: string, nodeImageRef: string, needs: NodeImageNeeds): Promise<void> {
  await createVolume(markerName(nodeImageId, config, [...needs.system, "|", ...needs.builtIn, "|", NEEDS_FORMAT]), {
    [LABEL_CACHE]: NODE_NEEDS,
    [LABEL_NEEDS_FORMAT]: NEEDS_FORMAT,
    [LABEL_NODE_IMAGE_ID]: nodeImageId,
    [LABEL_NODE_CONFIG]: config,
    [LABEL_NODE_IMAGE_REF]: nodeImageRef,
    [LABEL_IMAGES]: needs.system.join(" "),
    [LABEL_BUILT_IN]: needs.builtIn.join(" "),
  });
}
