// What a Kubernetes API request means, from its method and URL alone.
//
// Resource paths have two roots:
//   /api/<version>/...            the core group ("")
//   /apis/<group>/<version>/...   named groups
// followed by `[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
// Everything else (/version, /healthz, /openapi/…) is not a resource call.

import type { KubeMeta } from "../recorder.ts";

function splitUrl(rawUrl: string): { segments: string[]; query: URLSearchParams } {
  let path: string;
  let search: string;
  try {
    const u = new URL(rawUrl);
    path = u.pathname;
    search = u.search;
  } catch {
    const q = rawUrl.indexOf("?");
    path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    search = q === -1 ? "" : rawUrl.slice(q);
  }
  return { segments: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

/** Group, version and the segments after them; undefined off the API roots. */
function apiRoot(segments: string[]): { group: string; apiVersion?: string; rest: string[] } | undefined {
  if (segments[0] === "api") return { group: "", apiVersion: segments[1], rest: segments.slice(2) };
  if (segments[0] === "apis") return { group: segments[1] ?? "", apiVersion: segments[2], rest: segments.slice(3) };
  return undefined;
}

const VERB_BY_METHOD: Record<string, string> = { POST: "create", PUT: "update", PATCH: "patch" };

/**
 * Verb, group/version, resource, namespace, name and subresource of a
 * request, or null for a path that is not a resource operation
 * (discovery, /version, /healthz, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeKubeRequest } from "k3sbox";
 *
 * assert.deepEqual(describeKubeRequest("GET", "https://127.0.0.1:6443/api/v1/namespaces/shop/pods/web-0/log?tailLines=10"), {
 *   verb: "get",
 *   group: "",
 *   apiVersion: "v1",
 *   resource: "pods",
 *   name: "web-0",
 *   subresource: "log",
 *   namespace: "shop",
 * });
 * assert.equal(describeKubeRequest("GET", "https://127.0.0.1:6443/version"), null);
 * ```
 */
export function describeKubeRequest(method: string, url: string): KubeMeta | null {
  const { segments, query } = splitUrl(url);
  const root = apiRoot(segments);
  if (!root || !root.apiVersion) return null;

  // `namespaces/<ns>/<resource>…` is namespaced; `namespaces` and
  // `namespaces/<name>[/status]` are the cluster-scoped Namespace resource.
  let namespace: string | undefined;
  let path = root.rest;
  // Legacy watch form: /api/v1/watch/namespaces/<ns>/pods
  const legacyWatch = path[0] === "watch";
  if (legacyWatch) path = path.slice(1);
  if (path[0] === "namespaces" && path.length >= 3 && !(path.length === 3 && isNamespaceSubresource(path[2]))) {
    namespace = path[1];
    path = path.slice(2);
  }
  if (path.length === 0) return null; // APIResourceList discovery

  const [resource, name, subresource] = path;
  const m = method.toUpperCase();
  const watching = legacyWatch || ["true", "1"].includes(query.get("watch") ?? "");
  let verb: string;
  if (m === "GET" || m === "HEAD") verb = name !== undefined ? (watching ? "watch" : "get") : watching ? "watch" : "list";
  else if (m === "DELETE") verb = name !== undefined ? "delete" : "deletecollection";
  else verb = VERB_BY_METHOD[m] ?? m.toLowerCase();

  return { verb, group: root.group, apiVersion: root.apiVersion, resource, name, subresource, namespace };
}

// Subresources of a Namespace object itself (`/api/v1/namespaces/<ns>/status`).
function isNamespaceSubresource(segment: string): boolean {
  return segment === "status" || segment === "finalize";
}

/**
 * True for discovery endpoints (`/api`, `/api/<v>`, `/apis`, `/apis/<g>`,
 * `/apis/<g>/<v>`), which the generic object client calls to map a kind to
 * its resource. They are plumbing, so the recorder drops their events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isKubeDiscoveryPath } from "k3sbox";
 *
 * assert.equal(isKubeDiscoveryPath("https://127.0.0.1:6443/apis/apps/v1"), true);
 * assert.equal(isKubeDiscoveryPath("https://127.0.0.1:6443/api/v1/pods"), false);
 * ```
 */
export function isKubeDiscoveryPath(url: string): boolean {
  const { segments } = splitUrl(url);
  if (segments[0] === "api") return segments.length <= 2;
  if (segments[0] === "apis") return segments.length <= 3;
  return false;
}
