// The k3s() service factory: a single-node k3s cluster as a ServiceDefinition.

import { createKubeHelpers, type KubeHelpers, loadKubeconfig, pointKubeconfigAt } from "../kube/client.ts";
import { withRequestSignal } from "../kube/request-scope.ts";
import { startWebhooks, type WebhookContext, type Webhooks } from "../kube/webhooks.ts";
import type { WebhookOptions } from "../kube/webhook-options.ts";
import { dnsName, type HelperContext, hostPortOf, provides, SELF_SERVICE_TOKEN, type ServiceDefinition } from "../service.ts";
import { K3S_READY_COMMAND, k3sStartupScript } from "./command.ts";
import { type K3sOptions, resolveK3sOptions } from "./options.ts";
import { buildRegistriesYaml, REGISTRY_PORT } from "./registries.ts";
import { apiServerReadyProbe, kubeconfigReader } from "./ready-probe.ts";
import { nodeHostsEntries, registerPeersInCoreDns, setupK3sCluster } from "./setup.ts";
import { type LoadedImage, loadImages } from "./load-images.ts";
import { ensureNodeImages, prepareNodeImages } from "./node-images.ts";
import { mirrorEndpoint } from "../images/mirror.ts";
import { refuseFakeNode } from "./node-check.ts";
import { startAgentNodes, waitForAgentNodes } from "./agents.ts";
import { type NodeHandle, nodeHandles } from "./nodes.ts";
import { nodeDiagnostics } from "./node-diagnostics.ts";

/**
 * The Kubernetes API server's port inside the server node's container.
 *
 * @example
 * ```ts
 * import { K3S_API_PORT, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const server = `https://${env.services.k8s.host}:${env.hostPort("k8s", K3S_API_PORT)}`;
 * ```
 */
export const K3S_API_PORT = 6443;
/**
 * Where k3s writes its admin kubeconfig inside the server node's container
 * (`env.kubeconfigPath(key)` gives a copy on this machine).
 */
export const K3S_KUBECONFIG_PATH = "/etc/rancher/k3s/k3s.yaml";

/**
 * What `env.svc.<key>` is for a k3s() service.
 *
 * Also everything of KubeHelpers: `client`, `apply`, `rollout`, `waitFor`,
 * `namespace`, `logs`, `exec`, `portForward`, `diagnostics`.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s({ agents: 1 }) } });
 * const k8s = env.svc.k8s;
 * await k8s.loadImages("app:dev"); // from the host's Docker: pods run it with imagePullPolicy: Never
 * const nodes = await k8s.nodes(); // the server's node, then the agent's
 * await using ns = await k8s.namespace("orders");
 * await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "blue" } });
 * ```
 */
export interface K3sHelpers extends KubeHelpers {
  /**
   * Copies images from the host's Docker into every node's containerd (host
   * platform, streamed: `docker save | docker exec -i … ctr images import -`),
   * so pods run them with `imagePullPolicy: Never` or `IfNotPresent`.
   */
  loadImages(...refs: string[]): Promise<LoadedImage[]>;
  /**
   * Serves admission (validating, mutating) and CRD conversion webhooks from
   * this process over HTTPS (a certificate from the environment's CA for
   * `host.k3sbox.internal`, listening on env.hostAddress), points each
   * configuration's clientConfig at it (url + caBundle), and returns once
   * the API server demonstrably calls it. `await using` / close() (and the
   * environment's stop) removes the configurations before the server stops.
   *
   * @example
   * ```ts
   * import { k3s, startEnvironment } from "k3sbox";
   *
   * await using env = await startEnvironment({ services: { k8s: k3s() } });
   * await using hooks = await env.svc.k8s.webhooks({
   *   validating: [{
   *     name: "no-secrets.example.test",
   *     rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
   *     handler: (req) => "password" in (req.object?.data ?? {}) ? { allowed: false, message: "no passwords in ConfigMaps" } : { allowed: true },
   *   }],
   * });
   * console.log(hooks.calls("no-secrets.example.test")); // calls the API server made so far
   * ```
   */
  webhooks(options: WebhookOptions): Promise<Webhooks>;
  /**
   * The cluster's nodes as containers — the server's first, then the agents
   * (`agents` option) — each with stop/start/pause/unpause/kill, to take a
   * node away in a test and bring it back (docs/multi-node.md).
   */
  nodes(): Promise<NodeHandle[]>;
}

/** How long the environment's stop gives each open webhook server to uninstall its configurations. */
const WEBHOOK_CLOSE_MS = 10_000;

/** The address the containers reach this process at, or undefined where there is none (remote daemons). */
function reachableHost(ctx: HelperContext): string | undefined {
  try {
    return ctx.hostAddress?.();
  } catch {
    return undefined;
  }
}

/**
 * A throwaway Kubernetes cluster (k3s): one server node, plus `agents`
 * agent nodes when asked (docs/multi-node.md), with Traefik on the
 * container's :80/:443 (hostNetwork), an optional in-cluster registry at
 * `<key>.internal:5000`, and HTTPS for `*.<domain>` of each ingress domain.
 *
 * Options are checked here, before anything starts: a bad value throws a
 * K3sOptionError naming the option. The cluster starts with
 * `startEnvironment`; its helpers are `env.svc.<key>` (K3sHelpers).
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s({ ingressDomains: ["example.test"] }) } });
 * await env.svc.k8s.apply(`
 * apiVersion: apps/v1
 * kind: Deployment
 * metadata: { name: hello }
 * spec:
 *   selector: { matchLabels: { app: hello } }
 *   template:
 *     metadata: { labels: { app: hello } }
 *     spec: { containers: [{ name: web, image: "nginx:1.27" }] }
 * `);
 * await env.svc.k8s.rollout("deployment/hello");
 * const res = await env.fetch("https://hello.example.test/"); // into Traefik, TLS verified against env.caPem
 * ```
 */
export function k3s(options: K3sOptions = {}): ServiceDefinition<K3sHelpers> {
  const opts = resolveK3sOptions(options);
  const kubeconfigFile = kubeconfigReader(K3S_KUBECONFIG_PATH);
  const def: ServiceDefinition<K3sHelpers> = {
    image: { type: "registry", reference: opts.image },
    command: k3sStartupScript(opts),
    // The agent count is part of the definition's data (so a reused environment matches it); not read by k3s.
    ...(opts.agents > 0 ? { env: { K3SBOX_AGENTS: String(opts.agents) } } : {}),
    privileged: true,
    tmpfs: ["/run", "/var/run"],
    cgroupns: "host",
    ports: opts.registry ? [80, 443, K3S_API_PORT, REGISTRY_PORT] : [80, 443, K3S_API_PORT],
    // System and setup images from the host-side cache (lib/images/): no pulls after the first.
    prepare: (ctx) => prepareNodeImages(opts, ctx),
    files: (host) => {
      const yaml = buildRegistriesYaml({
        registry: opts.registry,
        dockerHubMirrors: host.dockerHubMirrors,
        sharedMirrors: Object.fromEntries(Object.entries(opts.mirrors).map(([name, upstream]) => [name, mirrorEndpoint(upstream)])),
      });
      return yaml ? [{ path: "/etc/rancher/k3s/registries.yaml", content: yaml }] : [];
    },
    readyCheck: { type: "exec", command: K3S_READY_COMMAND, timeoutSecs: opts.readyTimeoutSecs },
    // Same /readyz question from the host, much cheaper per try (see ready-probe.ts).
    readyProbe: apiServerReadyProbe(kubeconfigFile, K3S_API_PORT),
    helpers: async (ctx) => {
      const read = await kubeconfigFile.get(ctx);
      kubeconfigFile.forget(ctx);
      if (!read.text) throw new Error(`k3s(${ctx.name}): could not read ${K3S_KUBECONFIG_PATH} from the container: ${read.error}`);
      const kubeconfig = await loadKubeconfig(read.text);
      // The API server's certificate carries the address this process reaches
      // it at (see --tls-san), so the published port verifies against the cluster CA.
      pointKubeconfigAt(kubeconfig, `https://${hostPortOf(ctx.host, ctx.hostPort(K3S_API_PORT))}`);
      // A request that gets no answer names the node's fault (paused, exited, off its network).
      const kube = await createKubeHelpers(kubeconfig, { recorder: ctx.recorder, fault: ctx.fault });
      // Into every node: the server's and each agent's containerd (what the server reports is returned).
      const loadIntoNodes = async (refs: string[]) => {
        const agents = ctx.companions ? await ctx.companions() : [];
        const [loaded] = await Promise.all([loadImages(ctx.container, refs), ...agents.map((a) => loadImages(a.containerId, refs))]);
        return loaded;
      };
      // With agents, each node's state (and a log tail of each unhealthy one) comes first.
      const diagnostics: KubeHelpers["diagnostics"] = async (o) => {
        const nodes = await nodeDiagnostics(ctx, kube);
        const pods = await kube.diagnostics(o);
        return nodes ? `${nodes}\n${pods}` : pods;
      };
      const live = new Set<Webhooks>();
      const hooks: WebhookContext = {
        core: kube.client.core,
        objects: kube.client.objects,
        recorder: ctx.recorder,
        caPem: ctx.caPem,
        issueCertificate: ctx.issueCertificate,
        hostAddress: () => {
          if (!ctx.hostAddress) throw new Error(`k3s(${ctx.name}).webhooks(): the runner gives no host address`);
          return ctx.hostAddress();
        },
        live,
      };
      return {
        ...kube,
        diagnostics,
        loadImages: (...refs: string[]) => loadIntoNodes(refs),
        nodes: () => nodeHandles(ctx),
        webhooks: (options) => startWebhooks(hooks, options),
        // Webhook configurations go first, while the API is there to remove them and the servers still answer.
        close: async () => {
          // Bounded: a node already gone must not hold the stop for request timeouts.
          const open = await Promise.allSettled([...live].map((w) => withRequestSignal(AbortSignal.timeout(WEBHOOK_CLOSE_MS), () => w.close())));
          await kube.close();
          const failed = open.filter((r): r is PromiseRejectedResult => r.status === "rejected");
          if (failed.length) throw new AggregateError(failed.map((f) => f.reason), failed.map((f) => (f.reason as Error).message).join("; "));
        },
      };
    },
    setup: async (ctx) => {
      // Privileged means a real node: never a silent fake one (see node-check.ts).
      await refuseFakeNode(ctx.name, ctx.container, ctx.privileged === true);
      // Agents join while the server checks its images and its add-ons roll out.
      const agentsStarted = performance.now();
      const agents = await startAgentNodes(ctx, opts.agents, K3S_API_PORT);
      // Waited for beside the add-ons' rollouts: Ready times are taken as they
      // happen, and an agent that fails ends the start at once.
      const [, readyAfter] = await Promise.all([
        (async () => {
          await ensureNodeImages(opts, ctx);
          await setupK3sCluster(ctx.name, ctx.helpers, opts, { issueCertificate: ctx.issueCertificate, progress: ctx.progress, signal: ctx.signal });
        })(),
        agents.length ? waitForAgentNodes(ctx, agents, opts.readyTimeoutSecs * 1000, agentsStarted) : undefined,
      ]);
      if (readyAfter) {
        for (const [node, ms] of Object.entries(readyAfter)) ctx.timing(`${node} Ready`, ms);
        ctx.progress(`service "${ctx.name}": agent nodes Ready: ${Object.entries(readyAfter).map(([n, ms]) => `${n} ${ms}ms`).join(", ")}`);
      }
    },
    // Pods resolve peers (`<key>.internal`) and the test process (`host.k3sbox.internal`, where it is reachable).
    peers: (ctx, peers) => registerPeersInCoreDns(ctx.helpers, nodeHostsEntries(peers, reachableHost(ctx))),
    dispose: (helpers) => helpers.close(),
    diagnostics: (helpers) => helpers.diagnostics(),
    exportKubeconfig: (helpers) => helpers.kubeconfig.exportConfig(),
  };
  const domains = opts.ingressDomains.map((d) => dnsName(`*.${d}`, { service: SELF_SERVICE_TOKEN }));
  return domains.length ? provides(def, domains) : def;
}
