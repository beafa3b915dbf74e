// Builds the typed Kubernetes helpers (`client.core`, `client.apps`,
// `client.objects`, `apply`, `watch`) from a KubeConfig, over the recording
// mTLS transport.

import {
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  type RequestContext,
  type SecurityAuthentication,
  ServerConfiguration,
} from "../../deps.ts";
import type { Wrapped } from "../inspect.ts";
import { Recorder } from "../recorder.ts";
import { createApply } from "./apply.ts";
import { createHttpLibrary } from "./http-library.ts";
import { type Tagged, withTagging } from "./tagging.ts";
import { createTransport, type TlsMaterial, type Transport } from "./transport.ts";
import { watchPath, type WatchEvent, type WatchOptions } from "./watch.ts";

export interface KubeClient {
  core: Tagged<CoreV1Api>;
  apps: Tagged<AppsV1Api>;
  /** Generic object API (create/read/patch/delete of any kind, custom resources included). */
  objects: Tagged<KubernetesObjectApi>;
  /** Streams watch events of a collection path, e.g. `/api/v1/namespaces/default/pods`. */
  watch<T = Record<string, unknown>>(
    path: string,
    onEvent: (event: WatchEvent<T>) => boolean | void,
    opts?: WatchOptions,
  ): Promise<void>;
}

export interface KubeHelpers {
  /** The loaded KubeConfig, its cluster server pointing where the client connects. */
  kubeconfig: KubeConfig;
  client: KubeClient;
  /** Creates every object of a (multi-document) YAML manifest, in order. */
  apply(manifest: string): Promise<Wrapped<KubernetesObject>[]>;
  /** Releases pooled connections; the runner calls it when the environment stops. */
  close(): void;
}

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

export async function createKubeHelpers(
  kubeconfig: KubeConfig,
  opts: { recorder?: Recorder } = {},
): Promise<KubeHelpers> {
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
  const config = createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: auth },
    httpApi: createHttpLibrary(transport, recorder),
  });

  const objects = withTagging(new KubernetesObjectApi(config));
  const client: KubeClient = {
    core: withTagging(new CoreV1Api(config)),
    apps: withTagging(new AppsV1Api(config)),
    objects,
    watch: (path, onEvent, watchOpts) => watchPath(withHeaders(transport, headers), recorder, server, path, onEvent, watchOpts),
  };
  return { kubeconfig, client, apply: createApply(objects), close: () => transport.close() };
}

function withHeaders(transport: Transport, headers: Record<string, string>): Transport {
  if (Object.keys(headers).length === 0) return transport;
  return {
    fetch: (url, init) => transport.fetch(url, { ...init, headers: { ...headers, ...Object.fromEntries(new Headers(init.headers)) } }),
    close: () => transport.close(),
  };
}

/** Loads a kubeconfig from YAML text. */
export function loadKubeconfig(yaml: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}
