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

export {
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  ApiException,
  PatchStrategy,
  ResponseContext,
  ServerConfiguration,
  setHeaderOptions,
  wrapHttpLibrary,
} from "@kubernetes/client-node";
export type {
  ConfigurationOptions,
  HttpLibrary,
  KubernetesObject,
  RequestContext,
  SecurityAuthentication,
  V1APIResource,
  V1Deployment,
  V1Pod,
} from "@kubernetes/client-node";

export { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from "yaml";
