// `apply(yaml)`: creates every object of a multi-document manifest, in order.
// Like the reference component it creates (it does not server-side-apply),
// so applying the same object twice fails with 409 AlreadyExists.

import { type KubernetesObject, parseAllDocuments } from "../../deps.ts";
import type { Wrapped } from "../inspect.ts";
import type { Tagged } from "./tagging.ts";
import type { KubernetesObjectApi } from "../../deps.ts";
import { isKubeDiscoveryPath } from "./describe.ts";
import { KubeApiError } from "./errors.ts";

/** Names the document of a manifest that could not be parsed or created. */
export class ApplyError extends Error {
  constructor(readonly documentIndex: number, readonly object: string, cause: unknown) {
    super(`apply: document ${documentIndex} (${object}): ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "ApplyError";
  }
}

function describeObject(doc: Partial<KubernetesObject>): string {
  const ns = doc.metadata?.namespace ? `${doc.metadata.namespace}/` : "";
  return `${doc.kind ?? "?"} ${ns}${doc.metadata?.name ?? doc.metadata?.generateName ?? "?"}`;
}

/** Parses a manifest into objects, skipping empty documents. 1-based indexes. */
export function parseManifest(manifest: string): { index: number; object: KubernetesObject }[] {
  const out: { index: number; object: KubernetesObject }[] = [];
  parseAllDocuments(manifest).forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) throw new ApplyError(index, "unparsable YAML", doc.errors[0]);
    const value = doc.toJS();
    if (value === null || value === undefined) return; // empty document (`---` twice, comments only)
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new ApplyError(index, "not an object", new Error("each document must be a Kubernetes object mapping"));
    }
    if (!value.apiVersion || !value.kind) {
      throw new ApplyError(index, describeObject(value), new Error("missing apiVersion or kind"));
    }
    out.push({ index, object: value as KubernetesObject });
  });
  return out;
}

/** How long a custom resource waits for a CRD created earlier in the same manifest to be served. */
export const CRD_ESTABLISH_TIMEOUT_MS = 30_000;
/** The API server does not serve this kind (yet): discovery 404s, or the group lacks the kind. */
function isUnknownKind(err: unknown): boolean {
  if (err instanceof KubeApiError) return err.code === 404 && err.url !== undefined && isKubeDiscoveryPath(err.url);
  return /Unrecognized API version and kind/.test((err as Error)?.message ?? "");
}

/** "group/Kind" of every CustomResourceDefinition in the manifest. */
function kindsDefinedBy(docs: KubernetesObject[]): Set<string> {
  const kinds = new Set<string>();
  for (const d of docs) {
    if (d.kind !== "CustomResourceDefinition") continue;
    const spec = (d as { spec?: { group?: string; names?: { kind?: string } } }).spec;
    if (spec?.group && spec.names?.kind) kinds.add(`${spec.group}/${spec.names.kind}`);
  }
  return kinds;
}

const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0] : "");

export function createApply(objects: Tagged<KubernetesObjectApi>) {
  return async function apply(manifest: string): Promise<Wrapped<KubernetesObject>[]> {
    const docs = parseManifest(manifest);
    const definedHere = kindsDefinedBy(docs.map((d) => d.object));
    const created: Wrapped<KubernetesObject>[] = [];
    for (const { index, object } of docs) {
      // A custom resource right after its CRD: the API server serves the new
      // kind only once the CRD is established, so retry discovery briefly.
      const waitsForCrd = definedHere.has(`${groupOf(object.apiVersion!)}/${object.kind}`);
      const deadline = Date.now() + CRD_ESTABLISH_TIMEOUT_MS;
      while (true) {
        try {
          created.push((await objects.create(object)) as Wrapped<KubernetesObject>);
          break;
        } catch (err) {
          if (waitsForCrd && isUnknownKind(err) && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 200));
            continue;
          }
          throw new ApplyError(index, describeObject(object), err);
        }
      }
    }
    return created;
  };
}
