// The kubeconfig file k3sbox writes for kubectl/helm: YAML (client-node's
// exportConfig() gives one line of JSON), with the cluster, context and user
// renamed from k3s's "default" to a name unique to the environment and
// service, so several kubeconfigs merge (KUBECONFIG=a:b) without colliding.

import { stringifyYaml } from "../../deps.ts";

interface Named {
  name: string;
  [k: string]: unknown;
}

/** `exported` is KubeConfig.exportConfig() output; every entry gets `name` (suffixed when there are several). */
export function kubeconfigYaml(exported: string, name: string): string {
  const config = JSON.parse(exported) as {
    clusters?: Named[];
    users?: Named[];
    contexts?: (Named & { context?: { cluster?: string; user?: string; name?: string } })[];
    "current-context"?: string;
    preferences?: unknown;
  };
  const renamer = (list: Named[] = []) => {
    const map = new Map(list.map((e) => [e.name, list.length === 1 ? name : `${name}-${e.name}`]));
    for (const e of list) e.name = map.get(e.name)!;
    return (old: string | undefined) => (old !== undefined ? map.get(old) ?? old : old);
  };
  const cluster = renamer(config.clusters);
  const user = renamer(config.users);
  const context = renamer(config.contexts);
  for (const c of config.contexts ?? []) {
    if (!c.context) continue;
    c.context.cluster = cluster(c.context.cluster);
    c.context.user = user(c.context.user);
    delete c.context.name; // client-node's own field, not part of the kubeconfig format
  }
  if (config["current-context"] !== undefined) config["current-context"] = context(config["current-context"]);
  if (config.preferences && Object.keys(config.preferences).length === 0) delete config.preferences;
  return stringifyYaml(config);
}
