// The only file that imports third-party packages. Everything else in
// k3sbox imports from here, so the dependency surface is visible at a glance.

// @peculiar/x509, and the Reflect metadata polyfill it needs loaded before
// it, load on first use: they were a third of `import("k3sbox")` (bench/import.ts)
// and only certificate work needs them.
export type * as X509 from "@peculiar/x509";
export type X509Module = typeof import("@peculiar/x509");
let x509Module: Promise<X509Module> | undefined;
export function loadX509(): Promise<X509Module> {
  return x509Module ??= import("reflect-metadata").then(() => import("@peculiar/x509"));
}

// @kubernetes/client-node loads on first use too: it is most of the start of
// a CLI command (a usage error, `down`, `list`, `prune`) and of a process
// that runs only containers, none of which talk to a Kubernetes API. The
// kube layer awaits it where it builds a client; mod.ts loads it at import.
export type * as KubernetesClient from "@kubernetes/client-node";
export type KubernetesClientModule = typeof import("@kubernetes/client-node");
let kubernetesClientModule: Promise<KubernetesClientModule> | undefined;
let kubernetesClientLoaded: KubernetesClientModule | undefined;
export function loadKubernetesClient(): Promise<KubernetesClientModule> {
  return kubernetesClientModule ??= import("@kubernetes/client-node").then((m) => (kubernetesClientLoaded = m));
}
/** The client module once loadKubernetesClient() resolved (e.g. inside a request it makes), else undefined. */
export function loadedKubernetesClient(): KubernetesClientModule | undefined {
  return kubernetesClientLoaded;
}
export type {
  ApiException,
  AppsV1Api,
  ConfigurationOptions,
  CoreV1Api,
  HttpLibrary,
  KubeConfig,
  KubernetesObject,
  KubernetesObjectApi,
  RequestContext,
  ResponseContext,
  SecurityAuthentication,
  V1APIResource,
  V1Pod,
} from "@kubernetes/client-node";

export { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from "yaml";

// tar-stream writes the archives handed to `docker cp -` (files written into
// a container before it starts); it loads on first use, like the above.
export type TarStreamModule = typeof import("tar-stream");
let tarStreamModule: Promise<TarStreamModule> | undefined;
export function loadTarStream(): Promise<TarStreamModule> {
  return tarStreamModule ??= import("tar-stream");
}
