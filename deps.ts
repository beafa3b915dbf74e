// The only file that imports third-party packages. Everything else in
// k3sbox imports from here, so the dependency surface is visible at a glance.

// @peculiar/x509 needs the Reflect metadata polyfill loaded before it.
import "reflect-metadata";

export * as x509 from "@peculiar/x509";

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
