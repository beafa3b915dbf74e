/**
 * k3sbox: throwaway k3s clusters in Docker for Bun test suites, Deno scripts
 * and quick cluster smoke checks. `k3s()` defines a cluster,
 * `startEnvironment` starts it (and any other ServiceDefinition) in Docker
 * and removes everything afterwards, and `env.svc.<key>` is a recorded,
 * typed Kubernetes client with apply, waits, logs, exec, port-forward and
 * webhooks.
 *
 * This module only re-exports (no top-level await: importing it loads no
 * Kubernetes client and touches no Docker).
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s({ ingressDomains: ["example.test"] }) } });
 * await env.svc.k8s.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "blue" } });
 * console.log(env.timeline()); // apply configmaps · default/settings 201 9ms
 * ```
 *
 * @module
 */

export { k3s, type K3sHelpers, K3S_API_PORT, K3S_KUBECONFIG_PATH } from "./lib/k3s/k3s.ts";
export { DEFAULT_K3S_IMAGE, DEFAULT_K3S_VERSION, K3sOptionError, type K3sOptions, MAX_AGENTS } from "./lib/k3s/options.ts";
export type { NodeHandle } from "./lib/k3s/nodes.ts";
export { type LoadedImage, LoadImagesError } from "./lib/k3s/load-images.ts";
export { collectDiagnostics, waitForDeployment } from "./lib/k3s/setup.ts";

export { type Environment, startEnvironment } from "./lib/runner/environment.ts";
export type { EnvironmentOptions, RunningService } from "./lib/runner/environment-options.ts";
export { prune, type PruneOptions, type PruneResult } from "./lib/runner/prune.ts";
export { ImageUnavailableError, PrivilegedRefusedError } from "./lib/runner/preflight.ts";
export { ServiceNotReadyError } from "./lib/runner/readiness.ts";
export { EnvironmentOptionError } from "./lib/runner/validate.ts";
export { RoutingError } from "./lib/runner/routing.ts";

export {
  type CompanionSpec,
  dnsName,
  type HelperContext,
  provides,
  type ReadyCheck,
  type RunningCompanion,
  SELF_SERVICE_TOKEN,
  type ServiceDefinition,
  type ServiceFile,
  type SetupContext,
} from "./lib/service.ts";
export { readTag, type Tag, wrap, type Wrapped } from "./lib/provenance.ts";
export { describeEvent, type KubeMeta, type RecordedEvent, Recorder, type WebhookMeta } from "./lib/recorder.ts";

export {
  createKubeHelpers,
  type KubeClient,
  type KubeHelpers,
  type KubeNamespace,
  type KubeOperations,
  loadKubeconfig,
} from "./lib/kube/client.ts";
export {
  ApplyConflictError,
  ApplyError,
  type ApplyOptions,
  type CreateOptions,
  type DeleteOptions,
  FIELD_MANAGER,
  type FieldConflict,
} from "./lib/kube/apply.ts";
export type { KubeObject, Manifest } from "./lib/kube/manifest.ts";
export { UnknownKindError } from "./lib/kube/kinds.ts";
export { type ConditionName, type Predicate, WaitError, type WaitOptions } from "./lib/kube/waits.ts";
export { rolloutState, type RolloutState } from "./lib/kube/rollout-status.ts";
export type { LogsOptions } from "./lib/kube/logs.ts";
export { ExecError, type ExecOptions, type ExecResult } from "./lib/kube/exec.ts";
export { type PortForward, PortForwardError, type PortForwardOptions } from "./lib/kube/portforward-api.ts";
export type { DiagnosticsOptions } from "./lib/kube/diagnostics.ts";
export { WebhookNotReadyError, type Webhooks } from "./lib/kube/webhooks.ts";
export {
  type AdmissionWebhook,
  type ConversionWebhook,
  type WebhookOptions,
  WebhookOptionError,
  type WebhookRule,
} from "./lib/kube/webhook-options.ts";
export type {
  AdmissionDecision,
  AdmissionHandler,
  AdmissionRequest,
  ConversionHandler,
  JsonPatchOperation,
} from "./lib/kube/admission.ts";
export { PatchStrategy, setHeaderOptions } from "./lib/kube/patch.ts";
// Types of @kubernetes/client-node that k3sbox signatures use (documented there).
export type { ConfigurationOptions, KubernetesObject } from "./deps.ts";
export { KubeApiError } from "./lib/kube/errors.ts";
export { KubeTransportError } from "./lib/kube/http-library.ts";
export { type WatchEvent, type WatchOptions, WatchStalledError } from "./lib/kube/watch.ts";
export { describeKubeRequest, isKubeDiscoveryPath } from "./lib/kube/describe.ts";

export { type CertificateAuthority, generateCa, loadCa } from "./lib/pki/ca.ts";
export { issueLeaf } from "./lib/pki/leaf.ts";
export { DockerError, DockerUnavailableError } from "./lib/docker/cli.ts";
export { HOST_ALIAS, HostAddressError } from "./lib/docker/host-address.ts";
