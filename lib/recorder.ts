// Per-environment event log. Every HTTP call made through `recorder.fetch`
// (and every Kubernetes API call, which goes through the same path) becomes
// an event; the Kubernetes layer then reclassifies it as a `kube` event
// (`annotate`) or retracts library plumbing such as discovery (`remove`).

import { tagObject } from "./provenance.ts";

/**
 * Kubernetes meaning of an API request, derived from method and path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeKubeRequest, type KubeMeta } from "k3sbox";
 *
 * const meta: KubeMeta | null = describeKubeRequest("DELETE", "https://127.0.0.1:6443/api/v1/namespaces/shop/pods/web-0");
 * assert.equal(meta?.verb, "delete");
 * ```
 */
export interface KubeMeta {
  verb: string;
  group?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

/** A call the API server made to a webhook served by this process (kube/webhooks.ts). */
export interface WebhookMeta {
  type: "validating" | "mutating" | "conversion";
  /** The webhook's name (admission) or the CRD's (conversion). */
  webhook: string;
  /** What the request was about: `CREATE configmaps · ns/name`, or `to example.test/v2 (1 object)`. */
  about: string;
  /** `allowed`, `denied: <message>`, `patched (2 ops)`, `converted`, `failed: <message>`. */
  verdict?: string;
}

/**
 * One recorded call: an HTTP request made through a Recorder, classified as a
 * Kubernetes API call (`kube`) or a call a webhook of this process received
 * (`webhook`). `env.events()` returns them; `env.timeline()` prints them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RecordedEvent, Recorder } from "k3sbox";
 *
 * const recorder = new Recorder(); // an environment's: env.events()
 * const recordedFetch = recorder.fetch((input) => Promise.resolve(new Response(null, { status: String(input).endsWith("/missing") ? 404 : 200 })));
 * await recordedFetch("https://api.test/ok");
 * await recordedFetch("https://api.test/missing");
 * const failed: RecordedEvent[] = recorder.events().filter((e) => e.error !== undefined || (e.status ?? 0) >= 400);
 * assert.deepEqual(failed.map((e) => e.url), ["https://api.test/missing"]);
 * ```
 */
export interface RecordedEvent {
  seq: number;
  kind: "http" | "kube" | "webhook";
  method: string;
  url: string;
  /** HTTP status, once the response head arrived. */
  status?: number;
  /** Transport error, when the request failed without a response. */
  error?: string;
  /** Milliseconds since the recorder was created. */
  startedAtMs: number;
  durationMs?: number;
  kube?: KubeMeta;
  webhook?: WebhookMeta;
}

/** The timeline keeps this many newest events (a ring buffer: a long test run must not grow it without end). */
export const MAX_EVENTS = 10_000;

/**
 * An event log of HTTP calls: `fetch()` wraps a fetch so that every call
 * becomes a RecordedEvent. Every environment has one (`env.events()`,
 * `env.timeline()`); a ServiceDefinition's helpers get it as `ctx.recorder`
 * to have their own calls on the timeline. Keeps the newest `maxEvents`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Recorder } from "k3sbox";
 *
 * const recorder = new Recorder();
 * const recordedFetch = recorder.fetch(() => Promise.resolve(new Response("pong", { status: 200 })));
 * await recordedFetch("https://api.test/ping", { method: "POST" });
 * const [event] = recorder.events();
 * assert.equal(event.method, "POST");
 * assert.equal(event.status, 200);
 * assert.match(recorder.timeline(), /^POST https:\/\/api\.test\/ping 200 \d+ms$/);
 * ```
 */
export class Recorder {
  #events = new Map<number, RecordedEvent>();
  #nextSeq = 1;
  #origin = performance.now();
  #dropped = 0;

  constructor(readonly maxEvents: number = MAX_EVENTS) {
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new TypeError(`Recorder: maxEvents must be a positive integer; got ${String(maxEvents)}`);
  }

  /** How many of the oldest events were dropped to keep `maxEvents`. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Opens an event for a request about to be sent; returns its sequence number. */
  begin(method: string, url: string): number {
    // Map keeps insertion order: the first key is the oldest event.
    while (this.#events.size >= this.maxEvents) {
      this.#events.delete(this.#events.keys().next().value!);
      this.#dropped++;
    }
    const seq = this.#nextSeq++;
    this.#events.set(seq, {
      seq,
      kind: "http",
      method: method.toUpperCase(),
      url,
      startedAtMs: performance.now() - this.#origin,
    });
    return seq;
  }

  /** Closes an event with its outcome. */
  end(seq: number, outcome: { status?: number; error?: string }): void {
    const e = this.#events.get(seq);
    if (!e) return;
    e.status = outcome.status;
    e.error = outcome.error;
    e.durationMs = performance.now() - this.#origin - e.startedAtMs;
  }

  /** Reclassifies an event, e.g. as a `kube` event with verb/resource/namespace/name. */
  annotate(seq: number, patch: { kind: "kube" } & KubeMeta): void {
    const e = this.#events.get(seq);
    if (!e) return;
    const { kind, ...kube } = patch;
    e.kind = kind;
    e.kube = kube;
  }

  /** Marks an event as a webhook call received (its verdict may follow in a later call). */
  annotateWebhook(seq: number, meta: WebhookMeta): void {
    const e = this.#events.get(seq);
    if (!e) return;
    e.kind = "webhook";
    e.webhook = { ...meta };
  }

  /** Retracts an event (library plumbing the user never asked for). */
  remove(seq: number): void {
    this.#events.delete(seq);
  }

  /** Events in the order they started. */
  events(): RecordedEvent[] {
    return [...this.#events.values()].map((e) => ({ ...e, kube: e.kube && { ...e.kube }, webhook: e.webhook && { ...e.webhook } }));
  }

  /** One readable line per event. */
  timeline(): string {
    const lines = this.events().map(describeEvent);
    if (this.#dropped > 0) lines.unshift(`(${this.#dropped} earlier events dropped: the timeline keeps the newest ${this.maxEvents})`);
    return lines.join("\n");
  }

  /**
   * A fetch that records each call. The Response is tagged with its event
   * (see `readTag`), so callers can link results back to the call.
   */
  fetch(
    impl: (input: Request | string | URL, init?: RequestInit) => Promise<Response> = globalThis.fetch,
  ): (input: Request | string | URL, init?: RequestInit) => Promise<Response> {
    return async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      const seq = this.begin(method, url);
      try {
        const res = await impl(input, init);
        this.end(seq, { status: res.status });
        return tagObject(res, { sourceSeq: seq });
      } catch (err) {
        this.end(seq, { error: (err as Error)?.message ?? String(err) });
        throw err;
      }
    };
  }
}

/** `list pods · kube-system`, `create deployments · default/hello`, `get pods/log · ns/p`. */
export function describeKubeMeta(k: KubeMeta): string {
  const what = k.subresource ? `${k.resource}/${k.subresource}` : k.resource ?? "";
  const scope = [k.namespace, k.name].filter(Boolean).join("/");
  return `${k.verb} ${what}${scope ? ` · ${scope}` : ""}`;
}

/**
 * `list pods · kube-system 200 8ms`, `create deployments · default/hello 201 12ms`, `GET https://… 200 5ms`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeEvent } from "k3sbox";
 *
 * const line = describeEvent({
 *   seq: 1,
 *   kind: "kube",
 *   method: "POST",
 *   url: "https://127.0.0.1:6443/apis/apps/v1/namespaces/default/deployments",
 *   status: 201,
 *   startedAtMs: 0,
 *   durationMs: 12,
 *   kube: { verb: "create", resource: "deployments", namespace: "default", name: "hello" },
 * });
 * assert.equal(line, "create deployments · default/hello 201 12ms");
 * ```
 */
export function describeEvent(e: RecordedEvent): string {
  const outcome = e.error !== undefined ? `failed: ${e.error}` : e.status !== undefined ? String(e.status) : "pending";
  const took = e.durationMs !== undefined ? ` ${Math.round(e.durationMs)}ms` : "";
  if (e.kind === "webhook" && e.webhook) {
    const w = e.webhook;
    const verdict = e.error !== undefined ? `failed: ${e.error}` : w.verdict ?? outcome;
    return `webhook ${w.type} ${w.webhook} ← ${w.about} ${verdict}${took}`;
  }
  if (e.kind === "kube" && e.kube) return `${describeKubeMeta(e.kube)} ${outcome}${took}`;
  return `${e.method} ${e.url} ${outcome}${took}`;
}
