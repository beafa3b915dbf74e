// `apply(yaml)`: creates every object of a multi-document manifest, in order.
// Like the reference component it creates (it does not server-side-apply),
// so applying the same object twice fails with 409 AlreadyExists.

import { type KubernetesObject, parseAllDocuments } from "../../deps.ts";
import type { Wrapped } from "../inspect.ts";
import type { Tagged } from "./tagging.ts";
import type { KubernetesObjectApi } from "../../deps.ts";

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

export function createApply(objects: Tagged<KubernetesObjectApi>) {
  return async function apply(manifest: string): Promise<Wrapped<KubernetesObject>[]> {
    const created: Wrapped<KubernetesObject>[] = [];
    for (const { index, object } of parseManifest(manifest)) {
      try {
        created.push((await objects.create(object)) as Wrapped<KubernetesObject>);
      } catch (err) {
        throw new ApplyError(index, describeObject(object), err);
      }
    }
    return created;
  };
}
