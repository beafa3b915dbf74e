// Post-ready setup of a k3s cluster: the ingress TLS material, Traefik and the
// registry, then both rollouts awaited together. Every wait has a deadline and
// a timeout reports what the cluster looked like.

import type { KubeHelpers } from "../kube/client.ts";
import { KubeApiError } from "../kube/errors.ts";
import { WaitError } from "../kube/waits.ts";
import type { PeerAddress } from "../service.ts";
import {
  REGISTRY_DEPLOYMENT,
  registryManifest,
  SYSTEM_NAMESPACE,
  TRAEFIK_DEPLOYMENT,
  TRAEFIK_DYNAMIC_CONFIGMAP,
  TRAEFIK_DYNAMIC_TLS,
  TRAEFIK_TLS_SECRET,
  traefikManifest,
} from "./manifests.ts";
import { sleep } from "../sleep.ts";
import { HOST_ALIAS } from "../docker/host-address.ts";

export const ROLLOUT_TIMEOUT_MS = 120_000;
export const ROLLOUT_POLL_MS = 250;

export interface SetupDeps {
  /** Issues a leaf certificate for the given names from the environment's CA. */
  issueCertificate(names: string[]): Promise<{ certPem: string; keyPem: string }>;
  progress?(message: string): void;
  /** Abandons the rollout waits (the environment is stopping). */
  signal?: AbortSignal;
}

/** Installs ingress TLS (when domains are set), Traefik and the registry; waits for both. */
export async function setupK3sCluster(
  clusterName: string,
  helpers: KubeHelpers,
  opts: { registry: boolean; ingressDomains: string[]; rolloutTimeoutMs?: number },
  deps: SetupDeps,
): Promise<void> {
  const tls = opts.ingressDomains.length > 0;
  if (tls) {
    const { certPem, keyPem } = await deps.issueCertificate(opts.ingressDomains.map((d) => `*.${d}`));
    // Secret and ConfigMap first: the Traefik Deployment mounts both.
    await helpers.client.core.createNamespacedSecret({
      namespace: SYSTEM_NAMESPACE,
      body: {
        metadata: { name: TRAEFIK_TLS_SECRET, namespace: SYSTEM_NAMESPACE },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": certPem, "tls.key": keyPem },
      },
    });
    await helpers.client.core.createNamespacedConfigMap({
      namespace: SYSTEM_NAMESPACE,
      body: { metadata: { name: TRAEFIK_DYNAMIC_CONFIGMAP, namespace: SYSTEM_NAMESPACE }, data: { "tls.yaml": TRAEFIK_DYNAMIC_TLS } },
    });
  }
  await helpers.apply(traefikManifest(tls));
  if (opts.registry) await helpers.apply(registryManifest());

  // The two rollouts progress independently in the cluster; wait for both at once.
  const timeoutMs = opts.rolloutTimeoutMs ?? ROLLOUT_TIMEOUT_MS;
  const names = [TRAEFIK_DEPLOYMENT, ...(opts.registry ? [REGISTRY_DEPLOYMENT] : [])];
  await Promise.all(
    names.map((name) =>
      waitForDeployment(clusterName, helpers, { name, namespace: SYSTEM_NAMESPACE, timeoutMs, progress: deps.progress, signal: deps.signal })
    ),
  );
}

/**
 * Waits until a Deployment has rolled out its current spec (generation-aware,
 * as `kubectl rollout status`; see KubeHelpers.rollout). On timeout throws
 * with the last state seen and a diagnostics dump of its pods.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, waitForDeployment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await waitForDeployment("k8s", env.svc.k8s, { name: "coredns", namespace: "kube-system", timeoutMs: 60_000 });
 * ```
 */
export async function waitForDeployment(
  clusterName: string,
  helpers: KubeHelpers,
  opts: { name: string; namespace: string; timeoutMs: number; progress?: (m: string) => void; signal?: AbortSignal },
): Promise<void> {
  try {
    await helpers.rollout(`deployment/${opts.name}`, opts);
  } catch (err) {
    if (!(err instanceof WaitError)) throw err;
    const what = `k3s(${clusterName}): Deployment ${opts.namespace}/${opts.name}`;
    const head = err.timedOut ? `was not Ready within ${opts.timeoutMs / 1000}s (last seen: ${err.lastSeen})` : `failed to roll out: ${err.lastSeen}`;
    throw new Error(`${what} ${head}\n${err.diagnostics}`, { cause: err });
  }
}

/**
 * Pod phases, container waiting/terminated reasons and messages, log tails
 * of failing containers, and the newest Warning events of a namespace.
 * Never throws.
 *
 * @example
 * ```ts
 * import { collectDiagnostics, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * console.error(await collectDiagnostics(env.svc.k8s, "kube-system"));
 * ```
 */
export function collectDiagnostics(helpers: KubeHelpers, namespace: string): Promise<string> {
  return helpers.diagnostics({ namespace });
}

const COREDNS_CONFIGMAP = "coredns";
const NODE_HOSTS_KEY = "NodeHosts";

/** A hosts-file line for CoreDNS's NodeHosts: an address and its names. */
export interface HostsEntry {
  ip: string;
  names: string[];
}

/** NodeHosts lines for peers (`<ip> <key>.internal <key>`) and, when known, the test process (`<ip> host.k3sbox.internal`). */
export function nodeHostsEntries(peers: PeerAddress[], hostAddress?: string): HostsEntry[] {
  const entries = peers.map((p) => ({ ip: p.ip, names: [p.host, p.key] }));
  return hostAddress ? [...entries, { ip: hostAddress, names: [HOST_ALIAS] }] : entries;
}

/** `current` NodeHosts with each entry's line added once. */
export function mergeNodeHosts(current: string, entries: HostsEntry[]): string {
  const lines = current.split("\n").filter((l) => l.trim() !== "");
  for (const e of entries) {
    const entry = `${e.ip} ${e.names.join(" ")}`;
    if (!lines.includes(entry)) lines.push(entry);
  }
  return lines.join("\n") + "\n";
}

/**
 * Adds hosts lines (peer containers, `host.k3sbox.internal`) to CoreDNS's
 * NodeHosts (the hosts file k3s's CoreDNS serves), so pods resolve them.
 * Waits up to `timeoutMs` for k3s to create the ConfigMap.
 */
export async function registerPeersInCoreDns(
  helpers: KubeHelpers,
  entries: HostsEntry[],
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  if (entries.length === 0) return;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (true) {
    try {
      const cm = (await helpers.client.core.readNamespacedConfigMap({ name: COREDNS_CONFIGMAP, namespace: SYSTEM_NAMESPACE })).unwrap();
      const merged = mergeNodeHosts(cm.data?.[NODE_HOSTS_KEY] ?? "", entries);
      // JSON Patch guarded by the resourceVersion: if k3s rewrote NodeHosts
      // meanwhile, the test op fails (422) and we merge again.
      await helpers.client.core.patchNamespacedConfigMap({
        name: COREDNS_CONFIGMAP,
        namespace: SYSTEM_NAMESPACE,
        body: [
          { op: "test", path: "/metadata/resourceVersion", value: cm.metadata?.resourceVersion },
          { op: "add", path: "/data", value: { ...cm.data, [NODE_HOSTS_KEY]: merged } },
        ],
      });
      return;
    } catch (err) {
      const retriable = err instanceof KubeApiError && (err.code === 404 || err.code === 409 || err.code === 422);
      if (!retriable || Date.now() > deadline) {
        throw new Error(`could not add peers to ${SYSTEM_NAMESPACE}/${COREDNS_CONFIGMAP} NodeHosts: ${(err as Error)?.message ?? err}`);
      }
      await sleep(ROLLOUT_POLL_MS);
    }
  }
}
