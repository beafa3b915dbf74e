// Objects setup() installs: Traefik (hostNetwork, so it binds the k3s
// container's :80/:443 with no CNI portmap), its RBAC and default
// IngressClass, the in-cluster registry, and the TLS default-certificate
// config. Built as data and serialised, so there is no YAML templating.

import { stringifyYaml } from "../../deps.ts";
import { REGISTRY_PORT } from "./registries.ts";

export const TRAEFIK_IMAGE = "rancher/mirrored-library-traefik:3.3.2";
export const REGISTRY_IMAGE = "registry:2";
export const TRAEFIK_DEPLOYMENT = "traefik";
export const REGISTRY_DEPLOYMENT = "k3sbox-registry";
export const TRAEFIK_TLS_SECRET = "traefik-default-tls";
export const TRAEFIK_DYNAMIC_CONFIGMAP = "traefik-dynamic";
export const SYSTEM_NAMESPACE = "kube-system";

const toYaml = (objects: object[]) => objects.map((o) => stringifyYaml(o)).join("---\n");

/** Traefik file-provider config: the minted leaf is the default certificate. */
export const TRAEFIK_DYNAMIC_TLS = stringifyYaml({
  tls: { stores: { default: { defaultCertificate: { certFile: "/certs/tls.crt", keyFile: "/certs/tls.key" } } } },
});

const readOnly = (verbs = ["get", "list", "watch"]) => ({ verbs });

function traefikArgs(tls: boolean): string[] {
  return [
    "--entrypoints.web.address=:80",
    ...(tls ? ["--entrypoints.websecure.address=:443", "--entrypoints.websecure.http.tls=true"] : []),
    "--providers.kubernetesingress=true",
    "--providers.kubernetesingress.ingressclass=traefik",
    ...(tls ? ["--providers.file.directory=/dynamic", "--providers.file.watch=true"] : []),
    "--log.level=INFO",
  ];
}

/** The k3s server's node (k3s labels it; agents never carry the label: NodeRestriction). */
export const SERVER_NODE_SELECTOR = { "node-role.kubernetes.io/control-plane": "true" };

/** Traefik with hostNetwork; with `tls`, a :443 entrypoint serving the default certificate. */
export function traefikManifest(tls: boolean): string {
  const meta = (name: string, namespaced = true) => ({ name, ...(namespaced ? { namespace: SYSTEM_NAMESPACE } : {}) });
  const container = {
    name: "traefik",
    image: TRAEFIK_IMAGE,
    imagePullPolicy: "IfNotPresent",
    args: traefikArgs(tls),
    ports: [{ name: "web", containerPort: 80 }, ...(tls ? [{ name: "websecure", containerPort: 443 }] : [])],
    ...(tls
      ? {
        volumeMounts: [
          { name: "default-cert", mountPath: "/certs", readOnly: true },
          { name: "dynamic", mountPath: "/dynamic", readOnly: true },
        ],
      }
      : {}),
  };
  return toYaml([
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("traefik") },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: meta("traefik", false),
      rules: [
        { apiGroups: [""], resources: ["services", "endpoints", "secrets", "nodes"], ...readOnly() },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], ...readOnly() },
        { apiGroups: ["networking.k8s.io"], resources: ["ingresses", "ingressclasses"], ...readOnly() },
        { apiGroups: ["networking.k8s.io"], resources: ["ingresses/status"], verbs: ["update"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: meta("traefik", false),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "traefik" },
      subjects: [{ kind: "ServiceAccount", name: "traefik", namespace: SYSTEM_NAMESPACE }],
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "traefik", annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } },
      spec: { controller: "traefik.io/ingress-controller" },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { ...meta(TRAEFIK_DEPLOYMENT), labels: { app: "traefik" } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "traefik" } },
        template: {
          metadata: { labels: { app: "traefik" } },
          spec: {
            serviceAccountName: "traefik",
            hostNetwork: true,
            dnsPolicy: "Default",
            // On the server's node, whose published :80/:443 env.fetch dials (agents publish nothing).
            nodeSelector: SERVER_NODE_SELECTOR,
            tolerations: [{ operator: "Exists" }],
            containers: [container],
            ...(tls
              ? {
                volumes: [
                  { name: "default-cert", secret: { secretName: TRAEFIK_TLS_SECRET } },
                  { name: "dynamic", configMap: { name: TRAEFIK_DYNAMIC_CONFIGMAP } },
                ],
              }
              : {}),
          },
        },
      },
    },
  ]);
}

/** The in-cluster registry (CNCF distribution), hostNetwork on :5000, emptyDir storage. */
export function registryManifest(): string {
  const labels = { app: REGISTRY_DEPLOYMENT };
  return toYaml([{
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: REGISTRY_DEPLOYMENT, namespace: SYSTEM_NAMESPACE, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          hostNetwork: true,
          dnsPolicy: "Default",
          // On the server's node: <key>.internal:5000 and the published port lead there.
          nodeSelector: SERVER_NODE_SELECTOR,
          tolerations: [{ operator: "Exists" }],
          containers: [{
            name: "registry",
            image: REGISTRY_IMAGE,
            imagePullPolicy: "IfNotPresent",
            env: [
              { name: "REGISTRY_HTTP_ADDR", value: `:${REGISTRY_PORT}` },
              { name: "REGISTRY_STORAGE_DELETE_ENABLED", value: "true" },
            ],
            ports: [{ name: "registry", containerPort: REGISTRY_PORT }],
            volumeMounts: [{ name: "data", mountPath: "/var/lib/registry" }],
          }],
          volumes: [{ name: "data", emptyDir: {} }],
        },
      },
    },
  }]);
}
