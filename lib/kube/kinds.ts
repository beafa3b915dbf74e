// Which resource serves a kind: discovery through the generic object API,
// with a clear error for a kind the cluster does not serve, and a short wait
// for a kind whose CRD was just created (it is served once established).

import type { KubernetesObjectApi, V1APIResource } from "../../deps.ts";
import { isKubeDiscoveryPath } from "./describe.ts";
import { KubeApiError } from "./errors.ts";
import { groupOf } from "./manifest.ts";
import type { Tagged } from "./tagging.ts";

/** How long a custom resource waits for a CRD created earlier in the same manifest to be served. */
export const CRD_ESTABLISH_TIMEOUT_MS = 30_000;
const CRD_POLL_MS = 200;

/**
 * The cluster has no resource for this apiVersion + kind.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, UnknownKindError } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.waitFor({ apiVersion: "example.test/v1", kind: "Widget", metadata: { name: "w" } }, "Ready");
 * } catch (err) {
 *   if (!(err instanceof UnknownKindError)) throw err;
 *   console.error(`install the CRD of ${err.kind} (group ${err.group}) first`);
 * }
 * // apply() names the document too: an ApplyError whose `cause` is the UnknownKindError.
 * ```
 */
export class UnknownKindError extends Error {
  readonly group: string;
  constructor(readonly kind: string, readonly apiVersion: string) {
    const group = groupOf(apiVersion);
    super(
      `kind ${kind} in group ${group || "core"} is not served by this cluster (is its CRD installed?); apiVersion was ${apiVersion}`,
    );
    this.name = "UnknownKindError";
    this.group = group;
  }
}

/**
 * KubernetesObjectApi's own kind → resource lookup. It is protected, but it
 * fills the cache that its create/patch/read/delete use, so the discovery
 * request is made once per apiVersion.
 */
function discover(objects: Tagged<KubernetesObjectApi>, apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
  const api = objects as unknown as { resource(apiVersion: string, kind: string): Promise<V1APIResource | undefined> };
  return api.resource(apiVersion, kind);
}

/** Discovery answered 404 (group or version unknown). */
function isDiscovery404(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404 && err.url !== undefined && isKubeDiscoveryPath(err.url);
}

/**
 * The API resource for `apiVersion` + `kind`. Throws UnknownKindError when
 * the cluster does not serve it; with `waitForCrd`, keeps asking for up to
 * CRD_ESTABLISH_TIMEOUT_MS first (the CRD was created moments ago).
 */
export async function resolveResource(
  objects: Tagged<KubernetesObjectApi>,
  apiVersion: string,
  kind: string,
  opts: { waitForCrd?: boolean; signal?: AbortSignal } = {},
): Promise<V1APIResource> {
  const deadline = Date.now() + (opts.waitForCrd ? CRD_ESTABLISH_TIMEOUT_MS : 0);
  while (true) {
    let resource: V1APIResource | undefined;
    try {
      resource = await discover(objects, apiVersion, kind);
    } catch (err) {
      if (!isDiscovery404(err)) throw err;
    }
    if (resource) return resource;
    if (Date.now() >= deadline) throw new UnknownKindError(kind, apiVersion);
    opts.signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, CRD_POLL_MS));
  }
}
