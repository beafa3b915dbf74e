// A Kubernetes API error that says what was attempted and what the server
// answered, e.g.
//   create deployments · default/hello: 409 AlreadyExists: deployments.apps "hello" already exists

import type { ApiException } from "../../deps.ts";
import type { CallSlot } from "./call-slot.ts";
import { describeKubeMeta } from "../recorder.ts";

/** "fetch failed: invalid peer certificate: UnknownIssuer" — runtimes put the real reason in `cause`. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as Error).cause, depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ") || "unknown transport error";
}

interface Status {
  reason?: string;
  message?: string;
}

function statusOf(body: unknown): Status {
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as Status;
    } catch {
      return { message: body.slice(0, 500) };
    }
  }
  return (body ?? {}) as Status;
}

/**
 * The API server answered a request with an error status; the message reads
 * like the timeline (`get configmaps · default/missing: 404 NotFound: …`).
 *
 * @example
 * ```ts
 * import { k3s, KubeApiError, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await env.svc.k8s.client.core.readNamespacedConfigMap({ name: "missing", namespace: "default" });
 * } catch (err) {
 *   if (!(err instanceof KubeApiError) || err.code !== 404) throw err;
 *   console.log(err.reason); // "NotFound"
 * }
 * ```
 */
export class KubeApiError extends Error {
  constructor(
    message: string,
    /** HTTP status code (404, 409, 422, …). */
    readonly code: number,
    /** Kubernetes Status reason (NotFound, AlreadyExists, Invalid, …). */
    readonly reason: string | undefined,
    /** The response body as the server sent it (a Status object, usually). */
    readonly body: unknown,
    /** The request that failed. */
    readonly method?: string,
    readonly url?: string,
  ) {
    super(message);
    this.name = "KubeApiError";
  }

  static from(err: ApiException<unknown>, slot: CallSlot): KubeApiError {
    const status = statusOf(err.body);
    const what = slot.meta ? describeKubeMeta(slot.meta) : `${slot.method ?? "request"} ${slot.url ?? ""}`.trim();
    const detail = [status.reason, status.message].filter(Boolean).join(": ") || "no details in response";
    return new KubeApiError(`${what}: ${err.code} ${detail}`, err.code, status.reason, err.body, slot.method, slot.url);
  }
}
