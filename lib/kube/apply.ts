// `apply(manifest)`: server-side apply of every object of a manifest, in
// order, as field manager "k3sbox" — applying the same manifest twice
// succeeds and a changed one updates. `create(manifest)` keeps the
// reference component's create-only behaviour (409 on the second call), and
// `delete(manifest)` removes the objects and waits until they are gone.

import { checkTimeoutMs } from "../limits.ts";
import { withRequestSignal } from "./request-scope.ts";
import { type KubernetesObject, type KubernetesObjectApi, loadKubernetesClient, type V1APIResource } from "../../deps.ts";
import type { Wrapped } from "../provenance.ts";
import { KubeApiError } from "./errors.ts";
import { resolveResource } from "./kinds.ts";
import { ApplyError, describeObject, groupOf, kindsDefinedBy, type KubeObject, type Manifest, parseManifest } from "./manifest.ts";
import type { Tagged } from "./tagging.ts";

export { ApplyError } from "./manifest.ts";

/** The field manager `apply()` uses unless `fieldManager` says otherwise. */
export const FIELD_MANAGER = "k3sbox";
export const DELETE_TIMEOUT_MS = 60_000;
const DELETE_POLL_MS = 200;

/**
 * How `apply()` applies.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "red" } };
 * await env.svc.k8s.apply(cm, { namespace: "kube-public", fieldManager: "my-operator", force: true });
 * ```
 */
export interface ApplyOptions {
  /** Take over fields another field manager owns instead of failing with a conflict. Default false. */
  force?: boolean;
  /** Field manager name. Default "k3sbox". */
  fieldManager?: string;
  /** Namespace for namespaced objects that name none. Default: the object API's default ("default"). */
  namespace?: string;
}

/** How `create()` creates. */
export interface CreateOptions {
  /** Namespace for namespaced objects that name none. */
  namespace?: string;
}

/**
 * How `delete()` deletes, and how long it waits until the objects are gone.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await env.svc.k8s.delete({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" } }, { timeoutMs: 30_000, propagationPolicy: "Foreground" });
 * ```
 */
export interface DeleteOptions {
  /** Wait until every object is gone from the API. Default true. */
  wait?: boolean;
  /** Deadline of that wait. Default 60 s. */
  timeoutMs?: number;
  /** Namespace for namespaced objects that name none. */
  namespace?: string;
  /** Garbage collection of dependents. Default "Background" (as kubectl). */
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  signal?: AbortSignal;
}

/** One field two managers both want. */
export interface FieldConflict {
  /** e.g. ".data.color", ".spec.replicas" */
  field: string;
  /** The field manager that owns it now, e.g. "kubectl-edit". */
  manager: string;
}

/**
 * A server-side apply refused because other field managers own fields the manifest sets.
 *
 * @example
 * ```ts
 * import { ApplyConflictError, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "red" } };
 * await env.svc.k8s.apply(cm, { fieldManager: "someone-else" });
 * try {
 *   await env.svc.k8s.apply({ ...cm, data: { color: "blue" } });
 * } catch (err) {
 *   if (!(err instanceof ApplyConflictError)) throw err;
 *   console.log(err.conflicts); // [{ field: ".data.color", manager: "someone-else" }]
 *   await env.svc.k8s.apply({ ...cm, data: { color: "blue" } }, { force: true });
 * }
 * ```
 */
export class ApplyConflictError extends Error {
  constructor(readonly object: string, readonly conflicts: FieldConflict[], cause: KubeApiError) {
    const list = conflicts.map((c) => `${c.field} (owned by "${c.manager}")`).join(", ");
    super(
      `${conflicts.length} field conflict${conflicts.length === 1 ? "" : "s"} on ${object}: ${list}; apply with { force: true } to take ${
        conflicts.length === 1 ? "it" : "them"
      } over`,
      { cause },
    );
    this.name = "ApplyConflictError";
  }
}

/** The conflicts of a 409 Conflict answer to an apply patch, or undefined for any other error. */
export function conflictsOf(err: unknown): FieldConflict[] | undefined {
  if (!(err instanceof KubeApiError) || err.code !== 409 || err.reason !== "Conflict") return undefined;
  let body = err.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch { /* keep the text */ }
  }
  const causes = (body as { details?: { causes?: { reason?: string; message?: string; field?: string }[] } })?.details?.causes ?? [];
  const conflicts = causes
    .filter((c) => c.reason === "FieldManagerConflict")
    .map((c) => ({ field: c.field ?? "?", manager: /conflict with "([^"]*)"/.exec(c.message ?? "")?.[1] ?? "?" }));
  return conflicts.length > 0 ? conflicts : undefined;
}

type Objects = Tagged<KubernetesObjectApi>;

/** Each object's resource (waiting briefly for kinds whose CRD the manifest itself defines), namespace defaulted. */
async function* resolved(objects: Objects, manifest: Manifest, verb: string, namespace?: string) {
  const docs = parseManifest(manifest, verb);
  const definedHere = kindsDefinedBy(docs.map((d) => d.object));
  for (const { index, object } of docs) {
    let resource: V1APIResource;
    try {
      resource = await resolveResource(objects, object.apiVersion!, object.kind!, {
        waitForCrd: definedHere.has(`${groupOf(object.apiVersion!)}/${object.kind}`),
      });
    } catch (err) {
      throw new ApplyError(index, describeObject(object), err, verb);
    }
    object.metadata ??= {};
    if (resource.namespaced && !object.metadata.namespace && namespace) object.metadata.namespace = namespace;
    yield { index, object, resource };
  }
}

/**
 * Checks every document before any is sent: each parses, names itself
 * (apply), and is of a kind the cluster serves (or one the manifest's own
 * CRDs define). A failure then leaves the cluster untouched.
 */
async function checkAll(objects: Objects, manifest: Manifest, verb: string): Promise<void> {
  const docs = parseManifest(manifest, verb);
  const definedHere = kindsDefinedBy(docs.map((d) => d.object));
  for (const { index, object } of docs) {
    if (verb === "apply" && !object.metadata?.name) {
      throw new ApplyError(index, describeObject(object), new Error("metadata.name is required (server-side apply cannot use generateName; use create())"));
    }
    if (definedHere.has(`${groupOf(object.apiVersion!)}/${object.kind}`)) continue;
    await resolveResource(objects, object.apiVersion!, object.kind!).catch((err) => {
      throw new ApplyError(index, describeObject(object), err, verb);
    });
  }
}

/** A failure after some documents were applied says which (apply is not transactional). */
function notingDone(err: unknown, done: string[]): unknown {
  if (done.length > 0 && err instanceof Error) {
    err.message += `\n(documents applied before it, which stay applied: ${done.join(", ")})`;
    (err as Error & { applied?: string[] }).applied = done;
  }
  return err;
}

export function createApply(objects: Objects) {
  return async function apply(manifest: Manifest, opts: ApplyOptions = {}): Promise<Wrapped<KubeObject>[]> {
    const { PatchStrategy } = await loadKubernetesClient();
    await checkAll(objects, manifest, "apply");
    const applied: Wrapped<KubeObject>[] = [];
    const done: string[] = [];
    try {
      for await (const { index, object } of resolved(objects, manifest, "apply", opts.namespace)) {
        try {
          applied.push(
            await objects.patch(object, undefined, undefined, opts.fieldManager ?? FIELD_MANAGER, opts.force ?? false, PatchStrategy.ServerSideApply),
          );
          done.push(`${index} (${describeObject(object)})`);
        } catch (err) {
          const conflicts = conflictsOf(err);
          throw new ApplyError(index, describeObject(object), conflicts ? new ApplyConflictError(describeObject(object), conflicts, err as KubeApiError) : err);
        }
      }
    } catch (err) {
      throw notingDone(err, done);
    }
    return applied;
  };
}

export function createCreate(objects: Objects) {
  return async function create(manifest: Manifest, opts: CreateOptions = {}): Promise<Wrapped<KubeObject>[]> {
    const created: Wrapped<KubeObject>[] = [];
    for await (const { index, object } of resolved(objects, manifest, "create", opts.namespace)) {
      try {
        created.push(await objects.create(object));
      } catch (err) {
        throw new ApplyError(index, describeObject(object), err, "create");
      }
    }
    return created;
  };
}

const isNotFound = (err: unknown) => err instanceof KubeApiError && err.code === 404;

export function createDelete(objects: Objects) {
  /** Deletes in reverse manifest order (custom resources before their CRD); objects already gone are fine. */
  return async function deleteManifest(manifest: Manifest, opts: DeleteOptions = {}): Promise<void> {
    // Checked before anything is deleted: NaN or "1000" would make the wait below endless.
    const timeoutMs = checkTimeoutMs(opts.timeoutMs ?? DELETE_TIMEOUT_MS, 'delete(): option "timeoutMs"');
    const targets: { index: number; object: KubernetesObject }[] = [];
    for await (const { index, object } of resolved(objects, manifest, "delete", opts.namespace)) targets.push({ index, object });
    for (const { index, object } of targets.reverse()) {
      try {
        await objects.delete(object, undefined, undefined, undefined, undefined, opts.propagationPolicy ?? "Background");
      } catch (err) {
        if (!isNotFound(err)) throw new ApplyError(index, describeObject(object), err, "delete");
      }
    }
    if (opts.wait === false) return;

    const deadline = Date.now() + timeoutMs;
    let remaining: { index: number; object: KubernetesObject; finalizers?: string[] }[] = targets;
    while (true) {
      const still: typeof remaining = [];
      for (const t of remaining) {
        const limit = AbortSignal.timeout(Math.max(1, deadline - Date.now()) + 50);
        try {
          const live = await withRequestSignal(limit, () => objects.read(t.object as Parameters<Objects["read"]>[0]));
          still.push({ ...t, finalizers: live.metadata?.finalizers?.slice() });
        } catch (err) {
          if (isNotFound(err)) continue;
          // A read cut off by the deadline says nothing new: the object is still there as last seen.
          if (limit.aborted && Date.now() >= deadline) still.push(t);
          else throw new ApplyError(t.index, describeObject(t.object), err, "delete");
        }
      }
      if (still.length === 0) return;
      if (Date.now() >= deadline) {
        const left = still.map((s) => `${describeObject(s.object)}${s.finalizers?.length ? ` (finalizers: ${s.finalizers.join(", ")})` : ""}`);
        throw new Error(`delete: still present after ${timeoutMs / 1000}s: ${left.join("; ")}`);
      }
      opts.signal?.throwIfAborted();
      remaining = still;
      await new Promise((r) => setTimeout(r, DELETE_POLL_MS));
    }
  };
}
