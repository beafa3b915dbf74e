// What webhooks() installs, pure: the webhook configurations built from
// handlers, and existing configurations with their `clientConfig` (url +
// caBundle) rewritten to the server in this process — envtest's
// WebhookInstallOptions. Options and their validation: webhook-options.ts.

import { Buffer } from "node:buffer";
import type { AdmissionHandler, ConversionHandler, WebhookType } from "./admission.ts";
import { type KubeObject, type Manifest, parseManifest } from "./manifest.ts";
import { type AdmissionWebhook, WebhookOptionError, type WebhookOptions } from "./webhook-options.ts";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** What the server answers at a path. */
export type WebhookRoute =
  | { type: "validating" | "mutating"; name: string; handler: AdmissionHandler }
  | { type: "conversion"; name: string; handler: ConversionHandler };

/** A CRD whose conversion goes to this process. */
export interface ConversionTarget {
  crd: string;
  /** `spec.conversion` to set (strategy Webhook, this process's clientConfig). */
  conversion: Record<string, unknown>;
  /** The full CRD to apply, when it came from `configurations` (else the existing CRD is patched). */
  object?: KubeObject;
}

/** Everything to install: admission configurations to create, CRDs to point here, and the routes the server answers. */
export interface WebhookPlan {
  /** Each configuration with the id of its probe webhook (see probeWebhook). */
  admission: { object: KubeObject; probeId: string }[];
  conversions: ConversionTarget[];
  routes: Map<string, WebhookRoute>;
}

export const PROBE_LABEL = "webhooks.k3sbox.io/probe";
export const PROBE_PATH_PREFIX = "/k3sbox-probe/";

/** clientConfig pointing at `baseUrl` + `path`, trusting `caPem`. */
export function clientConfigFor(baseUrl: string, path: string, caPem: string): { url: string; caBundle: string } {
  return { url: `${baseUrl}${path}`, caBundle: Buffer.from(caPem).toString("base64") };
}

/**
 * The probe webhook added (first) to each admission configuration: it sees
 * only ConfigMaps labelled with `probeId`, so a dry-run create of one proves
 * the API server calls this configuration, and once it is no longer called,
 * that the configuration is gone. `probeId`: a label value, unique per configuration.
 */
export function probeWebhook(probeId: string, baseUrl: string, caPem: string, type: "validating" | "mutating"): Record<string, unknown> {
  return {
    name: `${probeId}.probe.k3sbox.io`,
    clientConfig: clientConfigFor(baseUrl, `${PROBE_PATH_PREFIX}${probeId}`, caPem),
    rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
    objectSelector: { matchLabels: { [PROBE_LABEL]: probeId } },
    failurePolicy: "Fail",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: 5,
    ...(type === "mutating" ? { reinvocationPolicy: "Never" } : {}),
  };
}

function admissionWebhookObject(w: AdmissionWebhook, type: "validating" | "mutating", clientConfig: Record<string, unknown>): Record<string, unknown> {
  return {
    name: w.name,
    clientConfig,
    rules: w.rules,
    failurePolicy: w.failurePolicy ?? "Fail",
    sideEffects: w.sideEffects ?? "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: w.timeoutSeconds ?? 10,
    ...(w.namespaceSelector ? { namespaceSelector: w.namespaceSelector } : {}),
    ...(w.objectSelector ? { objectSelector: w.objectSelector } : {}),
    ...(w.matchPolicy ? { matchPolicy: w.matchPolicy } : {}),
    ...(type === "mutating" ? { reinvocationPolicy: w.reinvocationPolicy ?? "Never" } : {}),
  };
}

const KIND_TYPE: Record<string, "validating" | "mutating"> = {
  ValidatingWebhookConfiguration: "validating",
  MutatingWebhookConfiguration: "mutating",
};

/** A path as a webhook configuration names it: `service.path` or the URL's path, else "/". */
function pathOf(clientConfig: unknown): string {
  if (!isObject(clientConfig)) return "/";
  if (isObject(clientConfig.service) && typeof clientConfig.service.path === "string") return clientConfig.service.path;
  if (typeof clientConfig.url === "string") {
    try {
      return new URL(clientConfig.url).pathname || "/";
    } catch {
      return "/";
    }
  }
  return "/";
}

/**
 * Copies of existing configurations with each webhook's clientConfig
 * rewritten to `baseUrl` (service replaced by url, caBundle set), the
 * route each path serves, and a probe webhook per admission configuration.
 * Throws a WebhookOptionError for a webhook whose path has no handler.
 */
export function rewriteConfigurations(
  manifest: Manifest,
  handlers: { admission?: Record<string, AdmissionHandler>; conversion?: Record<string, ConversionHandler> },
  baseUrl: string,
  caPem: string,
  probePrefix: string,
): WebhookPlan {
  const plan: WebhookPlan = { admission: [], conversions: [], routes: new Map() };
  const handlerFor = <H>(field: "handlers" | "converters", map: Record<string, H> = {}, at: string, path: string): H => {
    const h = Object.hasOwn(map, path) ? map[path] : undefined;
    if (!h) throw new WebhookOptionError(`${field}[${JSON.stringify(path)}]`, `a handler for ${at} (its clientConfig path); known paths: ${Object.keys(map).join(", ") || "none"}`, undefined);
    return h;
  };
  const route = (path: string, r: WebhookRoute, at: string) => {
    const had = plan.routes.get(path);
    if (had && had.type !== r.type) throw new WebhookOptionError(`configurations: ${at}`, `a path not also used by a ${had.type} webhook (${path})`, path);
    plan.routes.set(path, r);
  };
  for (const { index, object } of parseManifest(manifest, "webhooks")) {
    const o = structuredClone(object) as KubeObject;
    const name = o.metadata?.name;
    const at = `${o.kind} ${name} (document ${index})`;
    const type = KIND_TYPE[o.kind ?? ""];
    if (type) {
      if (!Array.isArray(o.webhooks) || o.webhooks.length === 0) throw new WebhookOptionError(`configurations: ${at}.webhooks`, "a non-empty array", o.webhooks);
      for (const w of o.webhooks as Record<string, unknown>[]) {
        const path = pathOf(w.clientConfig);
        route(path, { type, name: String(w.name), handler: handlerFor("handlers", handlers.admission, `${type} webhook ${w.name}`, path) }, at);
        w.clientConfig = clientConfigFor(baseUrl, path, caPem);
      }
      const probeId = `${probePrefix}-c${plan.admission.length}`;
      o.webhooks = [probeWebhook(probeId, baseUrl, caPem, type), ...o.webhooks];
      plan.admission.push({ object: o, probeId });
    } else if (o.kind === "CustomResourceDefinition") {
      const conv = o.spec?.conversion;
      if (!isObject(conv) || conv.strategy !== "Webhook") throw new WebhookOptionError(`configurations: ${at}.spec.conversion.strategy`, '"Webhook" (a CRD without a conversion webhook has nothing to rewrite)', conv?.strategy);
      const webhook = isObject(conv.webhook) ? conv.webhook : {};
      const path = pathOf(webhook.clientConfig);
      route(path, { type: "conversion", name: String(name), handler: handlerFor("converters", handlers.conversion, `the conversion webhook of ${name}`, path) }, at);
      const conversion = { strategy: "Webhook", webhook: { ...webhook, clientConfig: clientConfigFor(baseUrl, path, caPem), conversionReviewVersions: ["v1"] } };
      o.spec.conversion = conversion;
      plan.conversions.push({ crd: String(name), conversion, object: o });
    } else {
      throw new WebhookOptionError(`configurations: document ${index}`, "a ValidatingWebhookConfiguration, MutatingWebhookConfiguration or CustomResourceDefinition", o.kind);
    }
  }
  return plan;
}

/** The configurations for webhooks given with handlers, named `<prefix>-validating` / `-mutating`. */
export function planFromHandlers(opts: WebhookOptions, prefix: string, baseUrl: string, caPem: string): WebhookPlan {
  const plan: WebhookPlan = { admission: [], conversions: [], routes: new Map() };
  const kinds = { validating: "ValidatingWebhookConfiguration", mutating: "MutatingWebhookConfiguration" } as const;
  for (const type of ["validating", "mutating"] as const) {
    const list = opts[type] ?? [];
    if (list.length === 0) continue;
    const configName = `${prefix}-${type}`;
    const webhooks = list.map((w) => {
      const path = `/${type}/${w.name}`;
      plan.routes.set(path, { type, name: w.name, handler: w.handler });
      return admissionWebhookObject(w, type, clientConfigFor(baseUrl, path, caPem));
    });
    plan.admission.push({
      object: {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: kinds[type],
        metadata: { name: configName, labels: { "app.kubernetes.io/managed-by": "k3sbox" } },
        webhooks: [probeWebhook(configName, baseUrl, caPem, type), ...webhooks],
      },
      probeId: configName,
    });
  }
  for (const c of opts.conversion ?? []) {
    const path = `/conversion/${c.crd}`;
    plan.routes.set(path, { type: "conversion", name: c.crd, handler: c.convert });
    plan.conversions.push({
      crd: c.crd,
      conversion: { strategy: "Webhook", webhook: { clientConfig: clientConfigFor(baseUrl, path, caPem), conversionReviewVersions: ["v1"] } },
    });
  }
  return plan;
}

/** Both plans in one (names must not clash: the API server would refuse the second object anyway). */
export function mergePlans(a: WebhookPlan, b: WebhookPlan): WebhookPlan {
  const routes = new Map(a.routes);
  for (const [path, r] of b.routes) {
    if (routes.has(path)) throw new WebhookOptionError(`handlers[${JSON.stringify(path)}]`, "a path no webhook given with a handler uses as well", path);
    routes.set(path, r);
  }
  return { admission: [...a.admission, ...b.admission], conversions: [...a.conversions, ...b.conversions], routes };
}

export type { WebhookType };
