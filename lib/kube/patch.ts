// What a patch call needs besides its body: the Content-Type that names the
// patch format, and a per-call option that sets it. Defined here rather than
// re-exported from @kubernetes/client-node so that importing k3sbox does not
// load the client (mod.ts needed a top-level await for that); the values are
// the client's own (its PatchStrategy type checks them).
//
//   await client.core.patchNamespacedConfigMap({ name, namespace, body },
//     setHeaderOptions("Content-Type", PatchStrategy.MergePatch));

import { type KubernetesClient, type KubernetesClientModule, loadedKubernetesClient } from "../../deps.ts";

/**
 * The patch formats the API server takes, by their Content-Type.
 *
 * @example
 * ```ts
 * import { k3s, PatchStrategy, setHeaderOptions, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await env.svc.k8s.client.core.patchNamespacedConfigMap(
 *   { name: "settings", namespace: "default", body: [{ op: "replace", path: "/data/color", value: "green" }] },
 *   setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
 * );
 * ```
 */
export const PatchStrategy = {
  /** RFC 6902: a list of operations. */
  JsonPatch: "application/json-patch+json",
  /** RFC 7386: a partial object, lists replaced whole. */
  MergePatch: "application/merge-patch+json",
  /** Kubernetes' merge, lists merged by their declared keys. */
  StrategicMergePatch: "application/strategic-merge-patch+json",
  /** Server-side apply (what `apply()` uses). */
  ServerSideApply: "application/apply-patch+yaml",
} as const satisfies Record<string, KubernetesClient.PatchStrategy>;
export type PatchStrategy = (typeof PatchStrategy)[keyof typeof PatchStrategy];

/**
 * Per-call options that set one request header, appended to `opt`'s
 * middleware. The middleware is the client's own (setHeaderMiddleware), taken
 * when the request runs: by then the client is loaded, since it is making it.
 *
 * @example
 * ```ts
 * import { k3s, PatchStrategy, setHeaderOptions, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await env.svc.k8s.client.core.patchNamespacedConfigMap(
 *   { name: "settings", namespace: "default", body: { data: { color: "blue" } } },
 *   setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
 * );
 * ```
 */
export function setHeaderOptions(key: string, value: string, opt?: KubernetesClient.ConfigurationOptions): KubernetesClient.ConfigurationOptions {
  const client = (): KubernetesClientModule => {
    const loaded = loadedKubernetesClient();
    if (!loaded) throw new Error("setHeaderOptions: used outside a request of the Kubernetes client");
    return loaded;
  };
  const setHeader: KubernetesClient.ObservableMiddleware = {
    pre: (context) => client().setHeaderMiddleware(key, value).pre(context),
    post: (response) => client().setHeaderMiddleware(key, value).post(response),
  };
  return { ...opt, middleware: [...(opt?.middleware ?? []), setHeader], middlewareMergeStrategy: "append" };
}
