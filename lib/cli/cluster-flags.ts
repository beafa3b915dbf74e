// Flags shared by `up` and `smoke`: they map onto k3s() options, plus two
// escape hatches for hosts where real k3s cannot run (a k3s-compatible image,
// unprivileged).

import { k3s } from "../k3s/k3s.ts";
import type { K3sOptions } from "../k3s/options.ts";
import type { ServiceDefinition } from "../service.ts";
import type { K3sHelpers } from "../k3s/k3s.ts";
import { isImageReference } from "../image-ref.ts";
import { type Flags, type FlagSpec, UsageError } from "./args.ts";

export const CLUSTER_FLAGS = {
  "version": { kind: "string", help: "rancher/k3s image tag (default v1.32.1-k3s1)" },
  "ingress-domain": { kind: "list", help: "route *.<domain> into Traefik with HTTPS (repeatable)" },
  "no-registry": { kind: "boolean", help: "do not run the in-cluster registry" },
  "ready-timeout": { kind: "string", help: "seconds to wait for the API server (default 120)" },
  "extra-arg": { kind: "list", help: "extra `k3s server` argument (repeatable)" },
  "agents": { kind: "string", help: "agent nodes beside the server (default 0)" },
  "image": { kind: "string", help: "run this image instead of rancher/k3s (a k3s-compatible image)" },
  "unprivileged": { kind: "boolean", help: "do not request a privileged container (only for k3s-compatible images)" },
  "json": { kind: "boolean", help: "print one JSON document on stdout instead of text" },
} as const satisfies Record<string, FlagSpec>;

export type ClusterFlags = Flags<typeof CLUSTER_FLAGS>;

export function clusterFromFlags(flags: ClusterFlags, defaults: K3sOptions = {}): ServiceDefinition<K3sHelpers> {
  const timeout = flags["ready-timeout"];
  if (timeout !== undefined && !/^\d+(\.\d+)?$/.test(timeout)) {
    throw new UsageError(`--ready-timeout must be a number of seconds such as 120; got ${JSON.stringify(timeout)}`);
  }
  const agents = flags.agents;
  if (agents !== undefined && !/^\d{1,3}$/.test(agents)) {
    throw new UsageError(`--agents must be a whole number of agent nodes such as 2; got ${JSON.stringify(agents)}`);
  }
  const options: K3sOptions = {
    ...defaults,
    ...(flags.version !== undefined ? { version: flags.version } : {}),
    ...(flags["ingress-domain"] ? { ingressDomains: flags["ingress-domain"] } : {}),
    ...(flags["no-registry"] ? { registry: false } : {}),
    ...(timeout !== undefined ? { readyTimeoutSecs: Number(timeout) } : {}),
    ...(flags["extra-arg"] ? { extraArgs: flags["extra-arg"] } : {}),
    ...(agents !== undefined ? { agents: Number(agents) } : {}),
  };
  const def = k3s(options);
  const image = flags.image;
  if (image !== undefined && flags.version !== undefined) {
    // --image names the whole image: a --version beside it would be ignored.
    throw new UsageError(`--version cannot be combined with --image (which names the whole image); put the tag in it, e.g. --image ${image.replace(/:[^:/@]*$/, "")}:${flags.version}`);
  }
  if (image !== undefined && !isImageReference(image)) {
    throw new UsageError(`--image must be an image reference such as k3sbox-testbed:latest; got ${JSON.stringify(image)}`);
  }
  return {
    ...def,
    ...(image ? { image: { type: "registry", reference: image } } : {}),
    ...(flags.unprivileged ? { privileged: false } : {}),
  };
}
