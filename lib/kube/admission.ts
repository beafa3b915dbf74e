// The webhook wire formats, pure: an AdmissionReview (admission.k8s.io/v1)
// in, the handler's decision out as an AdmissionReview response; a
// ConversionReview (apiextensions.k8s.io/v1) in, converted objects out.
// A handler that throws or answers out of form denies (admission) or fails
// (conversion) with a message naming the webhook, never a bare 500.

import { Buffer } from "node:buffer";
import type { KubeObject } from "./manifest.ts";

/**
 * What the API server asks an admission webhook (`request` of an AdmissionReview).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AdmissionHandler, AdmissionRequest } from "k3sbox";
 *
 * const onlyInShop: AdmissionHandler = (req: AdmissionRequest) =>
 *   req.namespace === "shop" ? { allowed: true } : { allowed: false, message: `${req.operation} ${req.resource.resource} outside shop` };
 *
 * const request: AdmissionRequest = {
 *   uid: "1",
 *   kind: { group: "", version: "v1", kind: "ConfigMap" },
 *   resource: { group: "", version: "v1", resource: "configmaps" },
 *   namespace: "default",
 *   operation: "CREATE",
 *   userInfo: { username: "tester" },
 * };
 * assert.deepEqual(await onlyInShop(request), { allowed: false, message: "CREATE configmaps outside shop" });
 * ```
 */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  userInfo: { username?: string; uid?: string; groups?: string[] };
  /** The object as it would be stored (absent for DELETE). */
  object?: KubeObject;
  /** The object before the change (UPDATE, DELETE). */
  oldObject?: KubeObject;
  dryRun?: boolean;
  options?: Record<string, unknown>;
}

/**
 * One RFC 6902 JSON Patch operation.
 *
 * @example
 * ```ts
 * import type { JsonPatchOperation } from "k3sbox";
 *
 * const stamp: JsonPatchOperation[] = [{ op: "add", path: "/metadata/annotations", value: { "example.test/seen": "yes" } }];
 * ```
 */
export interface JsonPatchOperation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  value?: unknown;
  from?: string;
}

/**
 * What an admission handler answers.
 *
 * @example
 * ```ts
 * import type { AdmissionDecision } from "k3sbox";
 *
 * const denied: AdmissionDecision = { allowed: false, message: "replicas must be at most 3", code: 422 };
 * const patched: AdmissionDecision = { allowed: true, patch: [{ op: "replace", path: "/spec/replicas", value: 3 }], warnings: ["replicas capped at 3"] };
 * ```
 */
export interface AdmissionDecision {
  allowed: boolean;
  /** Shown to the client when denied (`kubectl`, `apply` errors carry it). */
  message?: string;
  /** HTTP code the client sees when denied (default 403). */
  code?: number;
  /** Mutating webhooks only: JSON Patch applied to the object. */
  patch?: JsonPatchOperation[];
  /** Warnings returned to the client. */
  warnings?: string[];
}

/**
 * Decides one admission request: validating webhooks allow or deny, mutating ones may also patch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AdmissionHandler } from "k3sbox";
 *
 * const noPasswords: AdmissionHandler = (req) =>
 *   "password" in (req.object?.data ?? {}) ? { allowed: false, message: "no passwords in ConfigMaps" } : { allowed: true };
 * const decision = await noPasswords({
 *   uid: "1",
 *   kind: { group: "", version: "v1", kind: "ConfigMap" },
 *   resource: { group: "", version: "v1", resource: "configmaps" },
 *   operation: "CREATE",
 *   userInfo: {},
 *   object: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { password: "hunter2" } },
 * });
 * assert.equal(decision.allowed, false);
 * ```
 */
export type AdmissionHandler = (request: AdmissionRequest) => AdmissionDecision | Promise<AdmissionDecision>;

/**
 * Converts one custom object to `desiredAPIVersion` (e.g. "example.test/v2").
 * The result's apiVersion is set to it when left out; metadata other than
 * labels and annotations must stay as it was (the API server checks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ConversionHandler } from "k3sbox";
 *
 * // v1 has `spec.size: number`; v2 has `spec.size: { value: number }`.
 * const convert: ConversionHandler = (obj, to) =>
 *   to === "example.test/v2"
 *     ? { ...obj, apiVersion: to, spec: { size: { value: obj.spec.size } } }
 *     : { ...obj, apiVersion: to, spec: { size: obj.spec.size.value } };
 * const v2 = await convert({ apiVersion: "example.test/v1", kind: "Widget", metadata: { name: "w" }, spec: { size: 3 } }, "example.test/v2");
 * assert.deepEqual(v2.spec, { size: { value: 3 } });
 * ```
 */
export type ConversionHandler = (object: KubeObject, desiredAPIVersion: string) => KubeObject | Promise<KubeObject>;

export type WebhookType = "validating" | "mutating" | "conversion";

/** A request body that is not a review of the expected kind. */
export class WebhookRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookRequestError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The `request` of an AdmissionReview v1 body. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body) || body.kind !== "AdmissionReview" || body.apiVersion !== "admission.k8s.io/v1") {
    throw new WebhookRequestError(`expected an admission.k8s.io/v1 AdmissionReview; got ${isObject(body) ? `${body.apiVersion}/${body.kind}` : typeof body}`);
  }
  const req = body.request;
  if (!isObject(req) || typeof req.uid !== "string" || typeof req.operation !== "string") {
    throw new WebhookRequestError("AdmissionReview without a request (uid, operation)");
  }
  return req as unknown as AdmissionRequest;
}

/** The `request` of a ConversionReview v1 body. */
export function parseConversionReview(body: unknown): { uid: string; desiredAPIVersion: string; objects: KubeObject[] } {
  if (!isObject(body) || body.kind !== "ConversionReview" || body.apiVersion !== "apiextensions.k8s.io/v1") {
    throw new WebhookRequestError(`expected an apiextensions.k8s.io/v1 ConversionReview; got ${isObject(body) ? `${body.apiVersion}/${body.kind}` : typeof body}`);
  }
  const req = body.request;
  if (!isObject(req) || typeof req.uid !== "string" || typeof req.desiredAPIVersion !== "string" || !Array.isArray(req.objects)) {
    throw new WebhookRequestError("ConversionReview without a request (uid, desiredAPIVersion, objects)");
  }
  return { uid: req.uid, desiredAPIVersion: req.desiredAPIVersion, objects: req.objects as KubeObject[] };
}

/** The handler's decision checked against its form; a decision out of form becomes a denial saying so. */
export function checkDecision(type: "validating" | "mutating", webhook: string, decision: unknown): AdmissionDecision {
  const refuse = (why: string): AdmissionDecision => ({ allowed: false, code: 500, message: `k3sbox: ${type} webhook ${webhook}: ${why}` });
  if (!isObject(decision) || typeof decision.allowed !== "boolean") {
    return refuse(`the handler must return { allowed: boolean, message?, patch? }; it returned ${decision === undefined ? "undefined" : JSON.stringify(decision)?.slice(0, 120)}`);
  }
  if (decision.patch !== undefined) {
    if (type === "validating") return refuse("a validating webhook's handler returned a patch (only mutating webhooks may patch)");
    if (!Array.isArray(decision.patch) || !decision.patch.every((p) => isObject(p) && typeof p.op === "string" && typeof p.path === "string")) {
      return refuse("`patch` must be an array of JSON Patch operations ({ op, path, value? })");
    }
  }
  if (decision.code !== undefined && !(Number.isInteger(decision.code) && (decision.code as number) >= 400 && (decision.code as number) <= 599)) {
    return refuse(`\`code\` must be an HTTP error code 400-599; got ${JSON.stringify(decision.code)}`);
  }
  return decision as unknown as AdmissionDecision;
}

/** The AdmissionReview the API server reads back. */
export function admissionReviewResponse(uid: string, decision: AdmissionDecision): Record<string, unknown> {
  const response: Record<string, unknown> = { uid, allowed: decision.allowed };
  if (!decision.allowed || decision.message !== undefined) {
    response.status = {
      ...(decision.message !== undefined ? { message: decision.message } : {}),
      ...(!decision.allowed ? { code: decision.code ?? 403, reason: "Forbidden" } : {}),
    };
  }
  if (decision.patch && decision.patch.length > 0) {
    response.patchType = "JSONPatch";
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString("base64");
  }
  if (decision.warnings?.length) response.warnings = decision.warnings;
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}

/** Runs an admission handler on a review body: the response body and what was decided (for the timeline). */
export async function handleAdmission(
  type: "validating" | "mutating",
  webhook: string,
  handler: AdmissionHandler,
  body: unknown,
): Promise<{ review: Record<string, unknown>; request: AdmissionRequest; decision: AdmissionDecision }> {
  const request = parseAdmissionReview(body);
  let decision: AdmissionDecision;
  try {
    decision = checkDecision(type, webhook, await handler(request));
  } catch (err) {
    decision = { allowed: false, code: 500, message: `k3sbox: ${type} webhook ${webhook}: the handler threw: ${(err as Error)?.message ?? err}` };
  }
  return { review: admissionReviewResponse(request.uid, decision), request, decision };
}

/** Runs a conversion handler on every object of a review body. */
export async function handleConversion(
  crd: string,
  handler: ConversionHandler,
  body: unknown,
): Promise<{ review: Record<string, unknown>; desiredAPIVersion: string; count: number; failure?: string }> {
  const { uid, desiredAPIVersion, objects } = parseConversionReview(body);
  const reply = (result: Record<string, unknown>, converted: KubeObject[] = []) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    response: { uid, convertedObjects: converted, result },
  });
  try {
    const converted: KubeObject[] = [];
    for (const object of objects) {
      const out = await handler(structuredClone(object), desiredAPIVersion);
      if (!isObject(out)) throw new Error(`the handler returned ${out === undefined ? "undefined" : typeof out}, not an object`);
      const result = { ...out, apiVersion: out.apiVersion ?? desiredAPIVersion } as KubeObject;
      if (result.apiVersion !== desiredAPIVersion) {
        throw new Error(`the handler returned apiVersion ${JSON.stringify(result.apiVersion)} for ${object.metadata?.name ?? "an object"}; expected ${desiredAPIVersion}`);
      }
      converted.push(result);
    }
    return { review: reply({ status: "Success" }, converted), desiredAPIVersion, count: converted.length };
  } catch (err) {
    const message = `k3sbox: conversion webhook of ${crd}: ${(err as Error)?.message ?? err}`;
    return { review: reply({ status: "Failure", message }), desiredAPIVersion, count: 0, failure: message };
  }
}
