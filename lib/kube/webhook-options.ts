// webhooks() options: their types and their validation, pure. Each error
// names the option and the allowed form (WebhookOptionError.option).

import type { AdmissionHandler, ConversionHandler } from "./admission.ts";
import type { Manifest } from "./manifest.ts";
import { isDnsName } from "../names.ts";

/**
 * One rule of an admission webhook (admissionregistration.k8s.io/v1 RuleWithOperations).
 *
 * @example
 * ```ts
 * import type { WebhookRule } from "k3sbox";
 *
 * const deployments: WebhookRule = { operations: ["CREATE", "UPDATE"], apiGroups: ["apps"], apiVersions: ["v1"], resources: ["deployments"] };
 * ```
 */
export interface WebhookRule {
  operations: ("CREATE" | "UPDATE" | "DELETE" | "CONNECT" | "*")[];
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  scope?: "Cluster" | "Namespaced" | "*";
}

/**
 * An admission webhook served by a handler in this process.
 *
 * @example
 * ```ts
 * import type { AdmissionWebhook } from "k3sbox";
 *
 * const noLatest: AdmissionWebhook = {
 *   name: "no-latest.example.test",
 *   rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
 *   handler: (req) => {
 *     const images: string[] = (req.object?.spec?.containers ?? []).map((c: { image: string }) => c.image);
 *     const latest = images.find((i) => !i.includes(":") || i.endsWith(":latest"));
 *     return latest ? { allowed: false, message: `${latest}: pin a tag` } : { allowed: true };
 *   },
 *   failurePolicy: "Fail",
 *   timeoutSeconds: 5,
 * };
 * ```
 */
export interface AdmissionWebhook {
  /** The webhook's name: a DNS name of at least three labels, e.g. "deny-secrets.example.test". */
  name: string;
  /** Which requests it sees. */
  rules: WebhookRule[];
  handler: AdmissionHandler;
  /** Default "Fail": a webhook that cannot be called fails the request. */
  failurePolicy?: "Fail" | "Ignore";
  /** Default "None". */
  sideEffects?: "None" | "NoneOnDryRun";
  /** 1-30 seconds, default 10. */
  timeoutSeconds?: number;
  /** Label selectors, as in the configuration. */
  namespaceSelector?: Record<string, unknown>;
  objectSelector?: Record<string, unknown>;
  matchPolicy?: "Exact" | "Equivalent";
  /** Mutating only. */
  reinvocationPolicy?: "Never" | "IfNeeded";
}

/**
 * A CRD's conversion served by a handler in this process.
 *
 * @example
 * ```ts
 * import type { ConversionWebhook } from "k3sbox";
 *
 * const widgets: ConversionWebhook = {
 *   crd: "widgets.example.test",
 *   convert: (obj, to) => (to === "example.test/v2" ? { ...obj, apiVersion: to, spec: { size: { value: obj.spec.size } } } : { ...obj, apiVersion: to }),
 * };
 * ```
 */
export interface ConversionWebhook {
  /** The CustomResourceDefinition's name, e.g. "widgets.example.test"; it must exist. */
  crd: string;
  convert: ConversionHandler;
}

/**
 * What `webhooks()` takes.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, type WebhookOptions } from "k3sbox";
 *
 * const options: WebhookOptions = {
 *   validating: [{
 *     name: "no-passwords.example.test",
 *     rules: [{ operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
 *     handler: (req) => ("password" in (req.object?.data ?? {}) ? { allowed: false, message: "no passwords in ConfigMaps" } : { allowed: true }),
 *   }],
 *   timeoutMs: 60_000,
 * };
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await using hooks = await env.svc.k8s.webhooks(options);
 * ```
 */
export interface WebhookOptions {
  /** Validating admission webhooks, each with its handler. */
  validating?: AdmissionWebhook[];
  /** Mutating admission webhooks, each with its handler. */
  mutating?: AdmissionWebhook[];
  /** CRD conversion webhooks, each with its handler. */
  conversion?: ConversionWebhook[];
  /**
   * Existing ValidatingWebhookConfiguration, MutatingWebhookConfiguration or
   * CustomResourceDefinition objects (as controller-gen writes them): each
   * webhook's `clientConfig` is rewritten to this process (its
   * `service.path`, or "/", selects the handler in `handlers`, or for a
   * CRD in `converters`), then applied.
   */
  configurations?: Manifest;
  /** Path → admission handler, for the webhooks of `configurations`. */
  handlers?: Record<string, AdmissionHandler>;
  /** Path → conversion handler, for the CRDs of `configurations`. */
  converters?: Record<string, ConversionHandler>;
  /** Port to listen on at env.hostAddress. Default: a free one. */
  port?: number;
  /** How long to wait until the API server demonstrably calls the webhooks (and, at close, stops calling them). Default 30 000. */
  timeoutMs?: number;
}

/**
 * An option of webhooks() is malformed; `option` names it.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, WebhookOptionError } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.webhooks({
 *     validating: [{ name: "short", rules: [], handler: () => ({ allowed: true }) }],
 *   });
 * } catch (err) {
 *   if (!(err instanceof WebhookOptionError)) throw err;
 *   console.error(err.option, err.message); // a webhook name needs three DNS labels
 * }
 * ```
 */
export class WebhookOptionError extends Error {
  constructor(readonly option: string, allowed: string, got: unknown) {
    super(`webhooks(): ${option} must be ${allowed}; got ${describe(got)}`);
    this.name = "WebhookOptionError";
  }
}

function describe(v: unknown): string {
  if (typeof v === "function") return "a function";
  try {
    const t = JSON.stringify(v) ?? String(v);
    return t.length > 100 ? `${t.slice(0, 90)}…` : t;
  } catch {
    return String(v);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** A webhook name: a DNS name with at least three labels (the API server's rule). */
const isWebhookName = (name: unknown): name is string => isDnsName(name, 3);
/** A CRD name: `<plural>.<group>`, so at least two labels. */
const isCrdName = (name: unknown): name is string => isDnsName(name, 2);
const OPTION_FIELDS = ["validating", "mutating", "conversion", "configurations", "handlers", "converters", "port", "timeoutMs"];
const ADMISSION_FIELDS = ["name", "rules", "handler", "failurePolicy", "sideEffects", "timeoutSeconds", "namespaceSelector", "objectSelector", "matchPolicy", "reinvocationPolicy"];

function known(at: string, obj: Record<string, unknown>, fields: string[]): void {
  for (const k of Object.keys(obj)) if (!fields.includes(k)) throw new WebhookOptionError(`${at}${at ? "." : ""}${k}`, `one of the known fields (${fields.join(", ")})`, k);
}

function checkAdmission(at: string, w: unknown, type: "validating" | "mutating"): asserts w is AdmissionWebhook {
  if (!isObject(w)) throw new WebhookOptionError(at, "{ name, rules, handler }", w);
  known(at, w, ADMISSION_FIELDS);
  if (!isWebhookName(w.name)) {
    throw new WebhookOptionError(`${at}.name`, 'a lowercase DNS name of at least three labels, e.g. "deny-secrets.example.test"', w.name);
  }
  if (typeof w.handler !== "function") throw new WebhookOptionError(`${at}.handler`, "a function (request) => ({ allowed, message?, patch? })", w.handler);
  if (!Array.isArray(w.rules) || w.rules.length === 0) {
    throw new WebhookOptionError(`${at}.rules`, 'a non-empty array such as [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }]', w.rules);
  }
  w.rules.forEach((r, i) => {
    if (!isObject(r)) throw new WebhookOptionError(`${at}.rules[${i}]`, "{ operations, apiGroups, apiVersions, resources }", r);
    for (const f of ["operations", "apiGroups", "apiVersions", "resources"]) {
      if (!Array.isArray(r[f]) || (r[f] as unknown[]).length === 0 || !(r[f] as unknown[]).every((s) => typeof s === "string")) {
        throw new WebhookOptionError(`${at}.rules[${i}].${f}`, "a non-empty array of strings", r[f]);
      }
    }
  });
  if (w.failurePolicy !== undefined && w.failurePolicy !== "Fail" && w.failurePolicy !== "Ignore") throw new WebhookOptionError(`${at}.failurePolicy`, '"Fail" or "Ignore"', w.failurePolicy);
  if (w.sideEffects !== undefined && w.sideEffects !== "None" && w.sideEffects !== "NoneOnDryRun") throw new WebhookOptionError(`${at}.sideEffects`, '"None" or "NoneOnDryRun"', w.sideEffects);
  if (w.timeoutSeconds !== undefined && !(Number.isInteger(w.timeoutSeconds) && (w.timeoutSeconds as number) >= 1 && (w.timeoutSeconds as number) <= 30)) {
    throw new WebhookOptionError(`${at}.timeoutSeconds`, "an integer from 1 to 30", w.timeoutSeconds);
  }
  for (const f of ["namespaceSelector", "objectSelector"]) if (w[f] !== undefined && !isObject(w[f])) throw new WebhookOptionError(`${at}.${f}`, "a label selector object ({ matchLabels })", w[f]);
  if (w.matchPolicy !== undefined && w.matchPolicy !== "Exact" && w.matchPolicy !== "Equivalent") throw new WebhookOptionError(`${at}.matchPolicy`, '"Exact" or "Equivalent"', w.matchPolicy);
  if (w.reinvocationPolicy !== undefined) {
    if (type !== "mutating") throw new WebhookOptionError(`${at}.reinvocationPolicy`, "left out (validating webhooks are not reinvoked)", w.reinvocationPolicy);
    if (w.reinvocationPolicy !== "Never" && w.reinvocationPolicy !== "IfNeeded") throw new WebhookOptionError(`${at}.reinvocationPolicy`, '"Never" or "IfNeeded"', w.reinvocationPolicy);
  }
}

/** Checks webhooks() options; throws a WebhookOptionError naming the first bad one. */
export function validateWebhookOptions(opts: unknown): asserts opts is WebhookOptions {
  if (!isObject(opts)) throw new WebhookOptionError("options", "an object such as { validating: [...] }", opts);
  known("", opts, OPTION_FIELDS);
  const names = new Set<string>();
  for (const type of ["validating", "mutating"] as const) {
    const list = opts[type];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new WebhookOptionError(type, "an array of { name, rules, handler }", list);
    list.forEach((w, i) => {
      checkAdmission(`${type}[${i}]`, w, type);
      if (names.has(`${type}/${w.name}`)) throw new WebhookOptionError(`${type}[${i}].name`, "unique among the " + type + " webhooks", w.name);
      names.add(`${type}/${w.name}`);
    });
  }
  if (opts.conversion !== undefined) {
    if (!Array.isArray(opts.conversion)) throw new WebhookOptionError("conversion", "an array of { crd, convert }", opts.conversion);
    const crds = new Set<string>();
    opts.conversion.forEach((c, i) => {
      if (!isObject(c)) throw new WebhookOptionError(`conversion[${i}]`, "{ crd, convert }", c);
      known(`conversion[${i}]`, c, ["crd", "convert"]);
      if (!isCrdName(c.crd)) throw new WebhookOptionError(`conversion[${i}].crd`, 'a CustomResourceDefinition name such as "widgets.example.test"', c.crd);
      if (typeof c.convert !== "function") throw new WebhookOptionError(`conversion[${i}].convert`, "a function (object, desiredAPIVersion) => object", c.convert);
      if (crds.has(c.crd)) throw new WebhookOptionError(`conversion[${i}].crd`, "unique among the conversion webhooks", c.crd);
      crds.add(c.crd);
    });
  }
  for (const field of ["handlers", "converters"] as const) {
    const map = opts[field];
    if (map === undefined) continue;
    if (!isObject(map)) throw new WebhookOptionError(field, `an object of path → handler, e.g. { "/validate": ${field === "handlers" ? "(request) => ({ allowed: true })" : "(object, version) => object"} }`, map);
    if (opts.configurations === undefined) throw new WebhookOptionError(field, "left out unless `configurations` is given (webhooks given with a handler carry their own)", "(set)");
    for (const [path, h] of Object.entries(map)) {
      if (!path.startsWith("/")) throw new WebhookOptionError(`${field}[${JSON.stringify(path)}]`, 'keyed by a path starting with "/"', path);
      if (typeof h !== "function") throw new WebhookOptionError(`${field}[${JSON.stringify(path)}]`, "a function", h);
    }
  }
  if (opts.configurations !== undefined && opts.handlers === undefined && opts.converters === undefined) {
    throw new WebhookOptionError("handlers", "given with `configurations` (one handler per webhook path; `converters` for CRDs)", undefined);
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && (opts.port as number) >= 0 && (opts.port as number) <= 65535)) {
    throw new WebhookOptionError("port", "an integer from 0 (a free port) to 65535", opts.port);
  }
  if (opts.timeoutMs !== undefined && !(typeof opts.timeoutMs === "number" && Number.isFinite(opts.timeoutMs) && opts.timeoutMs > 0 && opts.timeoutMs <= 2 ** 31 - 1)) {
    throw new WebhookOptionError("timeoutMs", "a positive number of milliseconds, such as 30000", opts.timeoutMs);
  }
  const o = opts as WebhookOptions;
  if (!o.validating?.length && !o.mutating?.length && !o.conversion?.length && o.configurations === undefined) {
    throw new WebhookOptionError("options", "at least one of validating, mutating, conversion or configurations", opts);
  }
}
