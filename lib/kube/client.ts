// Builds the typed Kubernetes helpers (`client.core`, `client.apps`,
// `client.objects`, `apply`, `watch`) from a KubeConfig, over the recording
// mTLS transport.

import {
  type AppsV1Api,
  type CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  type KubernetesObjectApi,
  loadKubernetesClient,
  type RequestContext,
  type SecurityAuthentication,
} from "../../deps.ts";
import type { Wrapped } from "../provenance.ts";
import { Recorder } from "../recorder.ts";
import { type ApplyOptions, createApply, createCreate, createDelete, type CreateOptions, type DeleteOptions } from "./apply.ts";
import { collectDiagnostics, type DiagnosticsOptions } from "./diagnostics.ts";
import { createHttpLibrary, type FaultProbe } from "./http-library.ts";
import { withRequestSignal } from "./request-scope.ts";
import { execInPod, type ExecOptions, type ExecResult, type StreamContext } from "./exec.ts";
import { type PortForward, type PortForwardOptions, startPortForward } from "./portforward.ts";
import { createGetText, type LogsOptions, podLogs } from "./logs.ts";
import type { KubeObject, Manifest } from "./manifest.ts";
import { NamespaceRegistry, type NamespaceRemoveOptions } from "./namespaces.ts";
import { type Tagged, withTagging } from "./tagging.ts";
import { createTransport, type TlsMaterial, type Transport } from "./transport.ts";
import { createRollout, createWaitFor, type ConditionName, type Predicate, type WaitOptions } from "./waits.ts";
import { watchPath, type WatchEvent, type WatchOptions } from "./watch.ts";

/**
 * The typed `@kubernetes/client-node` APIs over the environment's mutual-TLS
 * transport (`env.svc.<key>.client`). Every call is recorded on the timeline,
 * its result is plain data tagged with that call (`readTag`), and an API
 * error is a KubeApiError.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const { client } = env.svc.k8s;
 * const pods = await client.core.listNamespacedPod({ namespace: "kube-system" });
 * console.log(pods.items.map((p) => p.metadata?.name));
 *
 * // Stream changes until a pod is Running (or the server ends the watch).
 * await client.watch<{ metadata: { name: string }; status?: { phase?: string } }>(
 *   "/api/v1/namespaces/kube-system/pods",
 *   (event) => event.object.status?.phase !== "Running", // false ends the watch
 *   { timeoutSeconds: 30 },
 * );
 * ```
 */
export interface KubeClient {
  core: Tagged<CoreV1Api>;
  apps: Tagged<AppsV1Api>;
  /** Generic object API (create/read/patch/delete of any kind, custom resources included). */
  objects: Tagged<KubernetesObjectApi>;
  /**
   * Streams watch events of a collection path, e.g. `/api/v1/namespaces/default/pods`,
   * until the server ends the stream (`timeoutSeconds`, default 60), `onEvent`
   * returns false or `signal` aborts. One watch, not an informer: it never
   * re-lists. A stream silent for `idleTimeoutMs` (default 30 s) whose API
   * server then does not answer a liveness check, or one the server does not
   * end at `timeoutSeconds`, fails with a WatchStalledError naming the path,
   * the silence and the container's fault (paused, exited) — never hangs.
   */
  watch<T = Record<string, unknown>>(
    path: string,
    onEvent: (event: WatchEvent<T>) => boolean | void,
    opts?: WatchOptions,
  ): Promise<void>;
}

/**
 * apply/create/delete, waits, logs and diagnostics; on a namespace handle they default to its namespace.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await using ns = await env.svc.k8s.namespace("shop");
 * await ns.apply(`
 * apiVersion: apps/v1
 * kind: Deployment
 * metadata: { name: web }
 * spec:
 *   selector: { matchLabels: { app: web } }
 *   template:
 *     metadata: { labels: { app: web } }
 *     spec: { containers: [{ name: web, image: "nginx:1.27" }] }
 * `);
 * await ns.rollout("deployment/web"); // as `kubectl rollout status`
 * const [pod] = (await env.svc.k8s.client.core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=web" })).items;
 * await ns.waitFor(`pod/${pod.metadata?.name}`, "Ready");
 * const r = await ns.exec(pod, ["nginx", "-v"]); // { stdout, stderr, exitCode }
 * await using fwd = await ns.portForward(`pod/${pod.metadata?.name}`, 80);
 * console.log(r.exitCode, await ns.logs("app=web", { tail: 20 }), fwd.localPort);
 * ```
 */
export interface KubeOperations {
  /**
   * Server-side apply (field manager "k3sbox") of every object of a manifest
   * (multi-document YAML, an object, or an array), in order: idempotent, and
   * a changed manifest updates. A field another manager owns fails with an
   * ApplyConflictError naming it, unless `{ force: true }`.
   */
  apply(manifest: Manifest, opts?: ApplyOptions): Promise<Wrapped<KubeObject>[]>;
  /** Creates every object (the reference's behaviour: 409 AlreadyExists if it exists). */
  create(manifest: Manifest, opts?: CreateOptions): Promise<Wrapped<KubeObject>[]>;
  /** Deletes every object (already gone is fine) and, unless `{ wait: false }`, waits until they are gone. */
  delete(manifest: Manifest, opts?: DeleteOptions): Promise<void>;
  /** Waits until "deployment/<name>", "statefulset/<name>" or "daemonset/<name>" has rolled out its current spec. */
  rollout(target: string | KubernetesObject, opts?: WaitOptions): Promise<Wrapped<KubeObject>>;
  /** Waits until an object ("pod/web-0", or an object) has a condition ("Ready", "Complete", …) or satisfies a predicate. */
  waitFor<T = KubeObject>(target: string | KubernetesObject, condition: ConditionName | Predicate<Wrapped<T>>, opts?: WaitOptions): Promise<Wrapped<T>>;
  /** Logs of a pod (name or object) or of the pods a label selector ("app=web") matches. */
  logs(target: string | KubernetesObject, opts?: LogsOptions): Promise<string>;
  /** Pod states, waiting messages, warning events and failing containers' log tails: of one namespace, or of every namespace with pods. */
  diagnostics(opts?: DiagnosticsOptions & { namespace?: string }): Promise<string>;
  /**
   * Runs argv in a pod's container through the API server (any node; the
   * server verified, the client certificate presented) and returns its
   * output and exit code. A command still running at `timeoutMs` (default
   * 60 s) fails the call with an ExecError saying so.
   */
  exec(pod: string | KubernetesObject, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Forwards 127.0.0.1:`localPort` (default: a free port) to `remotePort` of
   * a pod ("pod/web-0" or "web-0") or of a Service ("service/web", resolved to
   * a ready pod as kubectl does). `await using` or `close()` frees the port.
   */
  portForward(target: string, remotePort: number, opts?: PortForwardOptions): Promise<PortForward>;
}

/**
 * A namespace of one's own (see `namespace()`); `await using` deletes it.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * {
 *   await using ns = await env.svc.k8s.namespace("orders"); // orders-x7k2qd
 *   await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "blue" } });
 *   console.log(ns.name, await ns.diagnostics());
 * } // deleted here
 * ```
 */
export interface KubeNamespace extends KubeOperations, AsyncDisposable {
  readonly name: string;
  /** Deletes the namespace now; `{ wait: true }` until it is gone. */
  remove(opts?: NamespaceRemoveOptions): Promise<void>;
}

/**
 * The Kubernetes helpers of a cluster: `env.svc.<key>` of a k3s() service
 * (K3sHelpers adds loadImages, webhooks and nodes), or what
 * `createKubeHelpers` builds from any kubeconfig. apply, waits, logs, exec
 * and port-forward default to the namespace "default"; a `namespace()` handle
 * has them all for its own namespace.
 *
 * @example
 * ```ts
 * import { k3s, type KubeHelpers, startEnvironment } from "k3sbox";
 *
 * async function deployed(k8s: KubeHelpers, name: string): Promise<boolean> {
 *   const list = await k8s.client.apps.listNamespacedDeployment({ namespace: "default" });
 *   return list.items.some((d) => d.metadata?.name === name);
 * }
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * console.log(await deployed(env.svc.k8s, "web"));
 * ```
 */
export interface KubeHelpers extends KubeOperations {
  /** The loaded KubeConfig, its cluster server pointing where the client connects. */
  kubeconfig: KubeConfig;
  client: KubeClient;
  /**
   * Creates a namespace `<prefix>-<random>` (default prefix "test") and waits
   * until pods can be created in it. Deleted at `await using` of the handle,
   * at `remove()`, or when the environment stops.
   */
  namespace(prefix?: string): Promise<KubeNamespace>;
  /** Closes port-forwards still open, deletes namespaces made by `namespace()` and releases pooled connections; the runner calls it at stop. */
  close(): Promise<void>;
}

/** How long close() gives the deletion of namespaces made by namespace(). */
const CLOSE_REQUEST_TIMEOUT_MS = 5_000;

const text = (b: Uint8Array | Buffer | string | undefined) =>
  b === undefined ? undefined : typeof b === "string" ? b : new TextDecoder().decode(b);

/**
 * Client certificate, key and CA of the current context, plus any auth
 * headers (bearer token, basic auth). Verification is always on: a
 * kubeconfig asking for `insecure-skip-tls-verify` is refused.
 */
export async function tlsMaterialOf(kc: KubeConfig): Promise<{ tls: TlsMaterial; headers: Record<string, string> }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig: no current cluster (check current-context)");
  if (cluster.skipTLSVerify) {
    throw new Error(
      `kubeconfig: cluster "${cluster.name}" sets insecure-skip-tls-verify; k3sbox always verifies the API server — provide certificate-authority-data instead`,
    );
  }
  // deno-lint-ignore no-explicit-any
  const opts: any = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k] = String(v);
  return { tls: { ca: text(opts.ca), cert: text(opts.cert), key: text(opts.key) }, headers };
}

/** Rewrites every cluster's server URL (e.g. to the published 127.0.0.1 port). */
export function pointKubeconfigAt(kc: KubeConfig, server: string): void {
  for (const cluster of kc.clusters) (cluster as { server: string }).server = server;
}

/**
 * The Kubernetes helpers (client, apply, waits, logs, exec, port-forward) for
 * any cluster a kubeconfig names, over the same verified mutual-TLS transport
 * as `env.svc.<key>`. `close()` releases them.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 * import { createKubeHelpers, k3s, loadKubeconfig, Recorder, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const kubeconfig = await loadKubeconfig(await readFile(await env.kubeconfigPath("k8s"), "utf8"));
 * const recorder = new Recorder();
 * const helpers = await createKubeHelpers(kubeconfig, { recorder, requestTimeoutMs: 10_000 });
 * try {
 *   console.log((await helpers.client.core.listNode()).items.length, recorder.timeline());
 * } finally {
 *   await helpers.close();
 * }
 * ```
 */
export async function createKubeHelpers(
  kubeconfig: KubeConfig,
  opts: {
    recorder?: Recorder;
    /** What is wrong with the API server's container, asked when a request gets no answer (see HelperContext.fault). */
    fault?: FaultProbe;
    /** Each API request's own timeout. Default KUBE_REQUEST_TIMEOUT_MS (30 s). */
    requestTimeoutMs?: number;
  } = {},
): Promise<KubeHelpers> {
  const kube = await loadKubernetesClient();
  const recorder = opts.recorder ?? new Recorder();
  const server = kubeconfig.getCurrentCluster()?.server;
  if (!server) throw new Error("kubeconfig: current cluster has no server URL");
  const { tls, headers } = await tlsMaterialOf(kubeconfig);
  const transport = createTransport(tls);

  // Auth headers are computed once; the client certificate lives in the transport.
  const auth: SecurityAuthentication = {
    getName: () => "k3sbox",
    applySecurityAuthentication(ctx: RequestContext) {
      for (const [k, v] of Object.entries(headers)) ctx.setHeaderParam(k, v);
    },
  };
  const config = kube.createConfiguration({
    baseServer: new kube.ServerConfiguration(server, {}),
    authMethods: { default: auth },
    httpApi: createHttpLibrary(kube, transport, recorder, { fault: opts.fault, requestTimeoutMs: opts.requestTimeoutMs }),
  });

  const objects = withTagging(new kube.KubernetesObjectApi(config), kube.ApiException);
  const client: KubeClient = {
    core: withTagging(new kube.CoreV1Api(config), kube.ApiException),
    apps: withTagging(new kube.AppsV1Api(config), kube.ApiException),
    objects,
    watch: (path, onEvent, watchOpts) => watchPath({ transport: withHeaders(transport, headers), recorder, server, fault: opts.fault }, path, onEvent, watchOpts),
  };
  const core = client.core;
  const getText = createGetText(transport, recorder, server, headers, opts.fault);
  const diagnostics = (namespace: string, opts: DiagnosticsOptions) => collectDiagnostics({ core, getText }, namespace, opts);
  const namespaces = new NamespaceRegistry(core);
  const stream: StreamContext = { server, tls, headers, recorder, forwards: new Set() };
  const ops = operations(
    { apply: createApply(objects), create: createCreate(objects), delete: createDelete(objects) },
    { rollout: createRollout({ objects, diagnostics }), waitFor: createWaitFor({ objects, diagnostics }) },
    {
      logs: (target, opts) =>
        podLogs({
          getText,
          listPods: async (namespace, labelSelector) => (await core.listNamespacedPod({ namespace, labelSelector })).unwrap().items,
          readPod: async (namespace, name) => (await core.readNamespacedPod({ namespace, name })).unwrap(),
        }, target, opts),
      diagnostics: async (opts = {}) => {
        const { namespace, ...rest } = opts;
        const names = namespace ? [namespace] : await namespacesWithPods(core, namespaces.live());
        const parts = await Promise.all(names.map((n) => collectDiagnostics({ core, getText }, n, rest)));
        return parts.join("\n");
      },
    },
    {
      exec: (pod, argv, opts) => execInPod(stream, pod, argv, opts),
      portForward: (target, port, opts) => startPortForward(stream, { core }, target, port, opts),
    },
  );
  return {
    kubeconfig,
    client,
    ...ops(undefined),
    namespace: async (prefix?: string) => {
      const name = await namespaces.create(prefix);
      const remove = (opts?: NamespaceRemoveOptions) => namespaces.remove(name, opts);
      return { name, ...ops(name), remove, [Symbol.asyncDispose]: () => remove() };
    },
    close: async () => {
      try {
        await Promise.all([...stream.forwards!].map((f) => f.close())); // ports freed, connections ended
        // At stop: a node that is paused or gone must not hold teardown for a request timeout per namespace.
        const limit = AbortSignal.timeout(CLOSE_REQUEST_TIMEOUT_MS);
        await withRequestSignal(limit, () => namespaces.removeAll());
      } finally {
        transport.close();
      }
    },
  };
}

/** The operations, with `namespace` as the default namespace of each call when given. */
function operations(
  writes: Pick<KubeOperations, "apply" | "create" | "delete">,
  waits: Pick<KubeOperations, "rollout" | "waitFor">,
  reads: Pick<KubeOperations, "logs" | "diagnostics">,
  streams: Pick<KubeOperations, "exec" | "portForward">,
): (namespace: string | undefined) => KubeOperations {
  return (namespace) => {
    const ns = <O extends { namespace?: string }>(opts?: O): O => ({ ...opts, namespace: opts?.namespace ?? namespace }) as O;
    return {
      apply: (m, o) => writes.apply(m, ns(o)),
      create: (m, o) => writes.create(m, ns(o)),
      delete: (m, o) => writes.delete(m, ns(o)),
      rollout: (t, o) => waits.rollout(t, ns(o)),
      waitFor: (t, c, o) => waits.waitFor(t, c as never, ns(o)),
      logs: (t, o) => reads.logs(t, ns(o)),
      diagnostics: (o) => reads.diagnostics(ns(o)),
      exec: (p, argv, o) => streams.exec(p, argv, ns(o)),
      portForward: (t, port, o) => streams.portForward(t, port, ns(o)),
    };
  };
}

/** Namespaces worth a diagnostics section: those with pods (not the lease/public ones), and our own. */
async function namespacesWithPods(core: Tagged<CoreV1Api>, own: string[]): Promise<string[]> {
  const pods = (await core.listPodForAllNamespaces({})).unwrap();
  const names = new Set(pods.items.map((p) => p.metadata?.namespace).filter((n): n is string => Boolean(n)));
  for (const n of own) names.add(n);
  return [...names].sort();
}

function withHeaders(transport: Transport, headers: Record<string, string>): Transport {
  if (Object.keys(headers).length === 0) return transport;
  return {
    fetch: (url, init) => transport.fetch(url, { ...init, headers: { ...headers, ...Object.fromEntries(new Headers(init.headers)) } }),
    close: () => transport.close(),
  };
}

/**
 * Loads a kubeconfig from YAML text (async: the Kubernetes client loads on first use).
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 * import { k3s, loadKubeconfig, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const kc = await loadKubeconfig(await readFile(await env.kubeconfigPath("k8s"), "utf8"));
 * console.log(kc.getCurrentCluster()?.server); // https://127.0.0.1:<port>
 * ```
 */
export async function loadKubeconfig(yaml: string): Promise<KubeConfig> {
  const kc = new (await loadKubernetesClient()).KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}
