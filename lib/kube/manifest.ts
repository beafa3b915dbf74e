// Manifests as apply/create/delete take them: multi-document YAML (or JSON)
// text, one object, or an array of objects. Pure: no API calls.

import { type KubernetesObject, parseAllDocuments } from "../../deps.ts";
import { deepUnwrap } from "../provenance.ts";
import { isKubernetesName } from "../names.ts";

/**
 * Any Kubernetes object: apiVersion, kind, metadata, and whatever fields its kind has (data, spec, status, …).
 *
 * @example
 * ```ts
 * import type { KubeObject } from "k3sbox";
 *
 * const cm: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "blue" } };
 * ```
 */
// deno-lint-ignore no-explicit-any
export type KubeObject = KubernetesObject & { [field: string]: any };

/**
 * What `apply`, `create` and `delete` accept: YAML text (one or more documents), an object, or an array of objects.
 *
 * @example
 * ```ts
 * import type { Manifest } from "k3sbox";
 *
 * const asYaml: Manifest = "apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a, namespace: shop }\n";
 * const asObjects: Manifest = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } }];
 * ```
 */
export type Manifest = string | KubeObject | KubeObject[];

/**
 * Names the document of a manifest that could not be parsed or acted on.
 *
 * @example
 * ```ts
 * import { ApplyError, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.apply([
 *     { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "ok" } },
 *     { apiVersion: "v1", kind: "ConfigMap", metadata: { generateName: "no-name-" } },
 *   ]);
 * } catch (err) {
 *   if (!(err instanceof ApplyError)) throw err;
 *   console.log(err.documentIndex, err.message); // 2 "apply: document 2 (ConfigMap …): metadata.name is required …"
 * }
 * ```
 */
export class ApplyError extends Error {
  constructor(readonly documentIndex: number, readonly object: string, cause: unknown, verb = "apply") {
    super(`${verb}: document ${documentIndex} (${object}): ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "ApplyError";
  }
}

/** "Deployment default/hello", "Namespace shop". */
export function describeObject(doc: Partial<KubernetesObject>): string {
  const ns = doc.metadata?.namespace ? `${doc.metadata.namespace}/` : "";
  return `${doc.kind ?? "?"} ${ns}${doc.metadata?.name ?? doc.metadata?.generateName ?? "?"}`;
}

/** The path to the first value that contains itself ("spec.template"), if any: such an object cannot be sent. */
function cyclePath(value: unknown, path: string[] = [], stack = new Set<object>()): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  if (stack.has(value)) return path.join(".") || "(the object itself)";
  stack.add(value);
  try {
    for (const [k, v] of Object.entries(value)) {
      const found = cyclePath(v, [...path, k], stack);
      if (found !== undefined) return found;
    }
  } finally {
    stack.delete(value);
  }
  return undefined;
}

// Most kinds take a DNS-1123 subdomain (names.ts); RBAC kinds take any path segment.
const PATH_SEGMENT_NAME_GROUPS = new Set(["rbac.authorization.k8s.io"]);

function checkObject(value: unknown, index: number, verb: string): KubernetesObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ApplyError(index, "not an object", new Error("each document must be a Kubernetes object mapping"), verb);
  }
  const obj = value as KubernetesObject;
  if (!obj.apiVersion || !obj.kind) throw new ApplyError(index, describeObject(obj), new Error("missing apiVersion or kind"), verb);
  const name = obj.metadata?.name;
  if (name !== undefined) {
    const group = groupOf(String(obj.apiVersion));
    const ok = typeof name === "string" && name.length <= 253 &&
      (PATH_SEGMENT_NAME_GROUPS.has(group) ? name !== "" && name !== "." && name !== ".." && !/[/%]/.test(name) : isKubernetesName(name));
    if (!ok) {
      throw new ApplyError(
        index,
        describeObject(obj),
        new Error(`metadata.name must be a lowercase DNS subdomain name (a-z, 0-9, "-" and ".", starting and ending alphanumeric, at most 253 characters) such as "web-1"; got ${JSON.stringify(name)}`),
        verb,
      );
    }
  }
  return obj;
}

/**
 * The objects of a manifest with their 1-based document indexes, skipping
 * empty YAML documents. Objects are copied (the API layer defaults their
 * namespace in place). A manifest without any object is an error: applying
 * `undefined` or `""` is a bug in the caller, not a no-op.
 */
export function parseManifest(manifest: Manifest, verb = "apply"): { index: number; object: KubernetesObject }[] {
  if (typeof manifest !== "string") {
    if (manifest === null || typeof manifest !== "object") {
      throw new TypeError(
        `${verb}(): manifest must be YAML text, a Kubernetes object or an array of them; got ${manifest === null ? "null" : typeof manifest}`,
      );
    }
    const list = Array.isArray(manifest) ? manifest : [manifest];
    if (list.length === 0) throw new TypeError(`${verb}(): manifest is an empty array; pass at least one object`);
    for (let i = 0; i < list.length; i++) {
      if (!Object.hasOwn(list, i)) throw new ApplyError(i + 1, "a hole", new Error("the manifest array is sparse (a hole at this position)"), verb);
      const cycle = cyclePath(list[i]);
      if (cycle !== undefined) throw new ApplyError(i + 1, "a circular object", new Error(`it contains itself at ${cycle}; an object sent to the API must be a tree`), verb);
    }
    return list.map((o, i) => ({ index: i + 1, object: checkObject(deepUnwrap(o), i + 1, verb) }));
  }
  const out: { index: number; object: KubernetesObject }[] = [];
  // merge: YAML merge keys (`<<: *defaults`) are resolved here, as kubectl does, not sent as a "<<" field.
  parseAllDocuments(manifest, { merge: true }).forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) throw new ApplyError(index, "unparsable YAML", doc.errors[0], verb);
    const value = doc.toJS();
    if (value === null || value === undefined) return; // empty document (`---` twice, comments only)
    out.push({ index, object: checkObject(value, index, verb) });
  });
  if (out.length === 0) {
    throw new TypeError(`${verb}(): manifest has no objects (${manifest.trim() === "" ? "empty text" : "only empty YAML documents"})`);
  }
  return out;
}

/** "group/Kind" of every CustomResourceDefinition in the manifest. */
export function kindsDefinedBy(docs: KubernetesObject[]): Set<string> {
  const kinds = new Set<string>();
  for (const d of docs) {
    if (d.kind !== "CustomResourceDefinition") continue;
    const spec = (d as { spec?: { group?: string; names?: { kind?: string } } }).spec;
    if (spec?.group && spec.names?.kind) kinds.add(`${spec.group}/${spec.names.kind}`);
  }
  return kinds;
}

/** API group of an apiVersion: "apps" for "apps/v1", "" (core) for "v1". */
export const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0] : "");
