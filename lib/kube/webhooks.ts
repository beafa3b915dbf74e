// Admission and conversion webhooks served by this process (envtest's
// WebhookInstallOptions): an HTTPS server on env.hostAddress with a
// certificate from the environment's CA for host.k3sbox.internal, the
// configurations pointed at it (url + caBundle), and proof that the API
// server calls them before webhooks() returns. close() removes the
// configurations, proves the API server stopped calling them, and only then
// stops the server, so no request in the cluster meets a dead webhook.

import { type CoreV1Api, type KubernetesObjectApi, loadKubernetesClient } from "../../deps.ts";
import { FIELD_MANAGER } from "./apply.ts";
import { HOST_ALIAS } from "../docker/host-address.ts";
import { type HttpsServer, serveHttps } from "../https-server.ts";
import type { Recorder } from "../recorder.ts";
import { sleep } from "../sleep.ts";
import { randomHex } from "../bytes.ts";
import { handleAdmission, handleConversion, parseAdmissionReview, WebhookRequestError } from "./admission.ts";
import { KubeApiError } from "./errors.ts";
import type { KubeObject } from "./manifest.ts";
import type { Tagged } from "./tagging.ts";
import {
  type ConversionTarget,
  mergePlans,
  planFromHandlers,
  PROBE_LABEL,
  PROBE_PATH_PREFIX,
  rewriteConfigurations,
  type WebhookPlan,
  type WebhookRoute,
} from "./webhook-config.ts";
import { validateWebhookOptions, WebhookOptionError, type WebhookOptions } from "./webhook-options.ts";

/**
 * Webhooks being served; `await using` or close() uninstalls them, then stops the server.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await using hooks = await env.svc.k8s.webhooks({
 *   mutating: [{
 *     name: "stamp.example.test",
 *     rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
 *     handler: () => ({ allowed: true, patch: [{ op: "add", path: "/metadata/labels", value: { stamped: "yes" } }] }),
 *   }],
 * });
 * await env.svc.k8s.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } });
 * console.log(hooks.url, hooks.calls("stamp.example.test")); // https://host.k3sbox.internal:<port> 1
 * ```
 */
export interface Webhooks extends AsyncDisposable {
  /** `https://host.k3sbox.internal:<port>`: where the API server calls. */
  readonly url: string;
  /** The address and port the server listens on (env.hostAddress). */
  readonly address: string;
  readonly port: number;
  /** The configurations as installed (clientConfig rewritten, probe webhook included). */
  readonly configurations: KubeObject[];
  /** How many calls a webhook (by name, or a CRD's name for conversion) has received. */
  calls(name: string): number;
  /** Removes the configurations (and points CRDs back), waits until the API server no longer calls them, then stops the server. */
  close(): Promise<void>;
}

/** What webhooks() needs from the cluster helpers and the environment. */
export interface WebhookContext {
  core: Tagged<CoreV1Api>;
  objects: Tagged<KubernetesObjectApi>;
  recorder: Recorder;
  /** PEM of the CA the API server is told to trust (the environment's). */
  caPem: string;
  issueCertificate(names: string[]): Promise<{ certPem: string; keyPem: string }>;
  /** The address to listen on (throws where the containers cannot reach this process). */
  hostAddress(): string;
  /** Open webhook servers, closed by the helpers' close() at stop. */
  live: Set<Webhooks>;
}

/**
 * The API server did not call (or did not stop calling) the webhooks in time.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment, WebhookNotReadyError } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   await using hooks = await env.svc.k8s.webhooks({
 *     validating: [{
 *       name: "allow-all.example.test",
 *       rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }],
 *       handler: () => ({ allowed: true }),
 *     }],
 *     timeoutMs: 10_000,
 *   });
 * } catch (err) {
 *   if (!(err instanceof WebhookNotReadyError)) throw err;
 *   console.error(err.message); // the API server could not call host.k3sbox.internal: a firewall on this machine?
 * }
 * ```
 */
export class WebhookNotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookNotReadyError";
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const PROBE_POLL_MS = 200;
/** Largest review body accepted (the API server's own request limit is 3 MiB of object, reviews carry two). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const PROBE_NAMESPACE = "default";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Serves, installs and proves the webhooks of `opts`; see Webhooks. */
export async function startWebhooks(ctx: WebhookContext, opts: WebhookOptions): Promise<Webhooks> {
  validateWebhookOptions(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const address = ctx.hostAddress();
  const leaf = await ctx.issueCertificate([HOST_ALIAS, address]);
  const prefix = `k3sbox-wh-${randomHex(4)}`;
  const counts = new Map<string, number>();
  const probesSeen = new Map<string, Set<string>>(); // probe id → names of probe ConfigMaps it saw
  let plan: WebhookPlan | undefined;

  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path.startsWith(PROBE_PATH_PREFIX)) {
      const review = parseAdmissionReview(await request.json());
      const probeId = path.slice(PROBE_PATH_PREFIX.length);
      const name = review.object?.metadata?.name;
      if (name) (probesSeen.get(probeId) ?? probesSeen.set(probeId, new Set()).get(probeId)!).add(name);
      return json({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: review.uid, allowed: true } });
    }
    const route: WebhookRoute | undefined = plan?.routes.get(path);
    const seq = ctx.recorder.begin("POST", `${url}${path}`);
    if (!route) {
      ctx.recorder.end(seq, { status: 404 });
      return new Response(`k3sbox: no webhook at ${path} (served: ${[...(plan?.routes.keys() ?? [])].join(", ")})`, { status: 404 });
    }
    counts.set(route.name, (counts.get(route.name) ?? 0) + 1);
    try {
      const body = await request.json();
      if (route.type === "conversion") {
        const r = await handleConversion(route.name, route.handler, body);
        ctx.recorder.annotateWebhook(seq, {
          type: "conversion",
          webhook: route.name,
          about: `to ${r.desiredAPIVersion}`,
          verdict: r.failure ? `failed: ${r.failure}` : `converted ${r.count} object${r.count === 1 ? "" : "s"}`,
        });
        ctx.recorder.end(seq, { status: 200 });
        return json(r.review);
      }
      const r = await handleAdmission(route.type, route.name, route.handler, body);
      const q = r.request;
      const scope = [q.namespace, q.name ?? q.object?.metadata?.name].filter(Boolean).join("/");
      ctx.recorder.annotateWebhook(seq, {
        type: route.type,
        webhook: route.name,
        about: `${q.operation} ${q.resource?.resource ?? "?"}${q.subResource ? `/${q.subResource}` : ""}${scope ? ` · ${scope}` : ""}${q.dryRun ? " (dry run)" : ""}`,
        verdict: !r.decision.allowed ? `denied: ${r.decision.message ?? ""}`.trim() : r.decision.patch?.length ? `patched (${r.decision.patch.length} op${r.decision.patch.length === 1 ? "" : "s"})` : "allowed",
      });
      ctx.recorder.end(seq, { status: 200 });
      return json(r.review);
    } catch (err) {
      const status = err instanceof WebhookRequestError || err instanceof SyntaxError ? 400 : 500;
      ctx.recorder.end(seq, { error: (err as Error).message });
      return new Response(`k3sbox: ${(err as Error).message}`, { status });
    }
  };

  const server: HttpsServer = await serveHttps({
    hostname: address,
    port: opts.port ?? 0,
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    maxBodyBytes: MAX_BODY_BYTES,
    handler,
  }).catch((err) => {
    throw new Error(`webhooks(): cannot listen on ${address}:${opts.port ?? 0} (env.hostAddress): ${(err as Error).message}`, { cause: err });
  });
  const url = `https://${HOST_ALIAS}:${server.port}`;
  const installed = new Installed(ctx, timeoutMs);
  // Tracked from here on: an environment stopping while this installs closes it too (after the install settles).
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await setup.catch(() => {}); // assigned below, before anything can call close()
      try {
        await installed.uninstall(probesSeen);
      } finally {
        ctx.live.delete(handle);
        await server.close();
      }
    })();
  const handle: Webhooks = {
    url,
    address,
    port: server.port,
    get configurations() {
      return plan?.admission.map((a) => a.object) ?? [];
    },
    calls: (name) => counts.get(name) ?? 0,
    close,
    [Symbol.asyncDispose]: close,
  };
  ctx.live.add(handle);
  const setup = (async () => {
    const fromHandlers = planFromHandlers(opts, prefix, url, ctx.caPem);
    plan = opts.configurations !== undefined
      ? mergePlans(fromHandlers, rewriteConfigurations(opts.configurations, { admission: opts.handlers, conversion: opts.converters }, url, ctx.caPem, prefix))
      : fromHandlers;
    await installed.install(plan);
    await installed.prove(plan, probesSeen, counts);
  })();
  try {
    await setup;
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
  return handle;
}

/** What was installed in the cluster, to prove and to undo. */
class Installed {
  admission: KubeObject[] = [];
  probes: string[] = [];
  /** CRDs pointed here, with the conversion they had before. */
  crds: { crd: string; before: unknown }[] = [];
  #attempt = 0;

  constructor(readonly ctx: WebhookContext, readonly timeoutMs: number) {}

  async install(plan: WebhookPlan): Promise<void> {
    for (const c of plan.conversions) await this.#pointCrd(c);
    for (const { object, probeId } of plan.admission) {
      await this.ctx.objects.create(object).catch(async (err) => {
        if (!(err instanceof KubeApiError && err.code === 409)) throw err;
        // An existing configuration of that name (a rewritten one): replace it with ours.
        const live = (await this.ctx.objects.read(object as never)).unwrap() as KubeObject;
        await this.ctx.objects.replace({ ...object, metadata: { ...object.metadata, resourceVersion: live.metadata?.resourceVersion } });
      });
      this.admission.push(object);
      this.probes.push(probeId);
    }
  }

  /** Sets a CRD's spec.conversion (read, modify, replace; retried on a conflict). */
  async #pointCrd(target: ConversionTarget): Promise<void> {
    const ref = { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: target.crd } };
    if (target.object) {
      const before = await this.ctx.objects.read(ref as never).then((o) => (o.unwrap() as KubeObject).spec?.conversion, (err) => {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      });
      const { PatchStrategy } = await loadKubernetesClient();
      await this.ctx.objects.patch(target.object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      this.crds.push({ crd: target.crd, before });
      return;
    }
    const before = await this.#setConversion(target.crd, target.conversion).catch((err) => {
      if (err instanceof KubeApiError && err.code === 404) {
        throw new WebhookOptionError(`conversion: crd ${JSON.stringify(target.crd)}`, "the name of an existing CustomResourceDefinition (apply it first)", target.crd);
      }
      throw err;
    });
    this.crds.push({ crd: target.crd, before });
  }

  async #setConversion(crd: string, conversion: unknown): Promise<unknown> {
    const ref = { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: crd } };
    for (let i = 0;; i++) {
      const live = (await this.ctx.objects.read(ref as never)).unwrap() as KubeObject;
      const before = live.spec?.conversion;
      try {
        await this.ctx.objects.replace({ ...live, spec: { ...live.spec, conversion } } as KubeObject);
        return before;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 409) || i >= 5) throw err;
      }
    }
  }

  /** One dry-run create of a probe ConfigMap: did the probe webhook `probeId` see it? */
  async #probe(probeId: string, seen: Map<string, Set<string>>): Promise<{ seen: boolean; error?: string }> {
    const name = `k3sbox-probe-${randomHex(4)}-${++this.#attempt}`;
    let error: string | undefined;
    await this.ctx.core.createNamespacedConfigMap({
      namespace: PROBE_NAMESPACE,
      dryRun: "All",
      body: { metadata: { name, labels: { [PROBE_LABEL]: probeId } } },
    }).catch((err) => (error = (err as Error).message));
    return { seen: seen.get(probeId)?.has(name) ?? false, error };
  }

  /** Returns once the API server has called each configuration's probe (and each CRD's conversion, where an object exists). */
  async prove(plan: WebhookPlan, seen: Map<string, Set<string>>, counts: Map<string, number>): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (const probeId of this.probes) {
      let last: string | undefined;
      while (true) {
        const r = await this.#probe(probeId, seen);
        if (r.seen) break;
        last = r.error ?? last;
        if (Date.now() >= deadline) {
          throw new WebhookNotReadyError(
            `webhooks(): the API server did not call the webhook server at ${plan.admission[0]?.object.webhooks?.[0]?.clientConfig?.url ?? "?"} within ${this.timeoutMs / 1000} s` +
              (last ? ` (last probe request: ${last})` : "") +
              `; ${HOST_ALIAS} must resolve on the node to env.hostAddress and reach this process`,
          );
        }
        await sleep(PROBE_POLL_MS);
      }
    }
    for (const c of plan.conversions) await this.#proveConversion(c.crd, counts, deadline);
  }

  /**
   * Waits for the CRD to be Established (one applied from `configurations`
   * may be new), then reads one stored object at a version other than the
   * storage one until the conversion webhook is called; no objects: nothing
   * the API server would convert yet, so nothing to prove.
   */
  async #proveConversion(crd: string, counts: Map<string, number>, deadline: number): Promise<void> {
    const ref = { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: crd } };
    let last: string | undefined;
    const retry = async <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => {
      while (true) {
        const v = await fn().catch((err) => (last = (err as Error).message, undefined));
        if (v !== undefined) return v;
        if (Date.now() >= deadline) {
          throw new WebhookNotReadyError(`webhooks(): ${what} (conversion webhook of ${crd}) within ${this.timeoutMs / 1000} s${last ? ` (last: ${last})` : ""}`);
        }
        await sleep(PROBE_POLL_MS);
      }
    };
    const def = await retry("the CustomResourceDefinition was not Established", async () => {
      const d = (await this.ctx.objects.read(ref as never)).unwrap() as KubeObject;
      // deno-lint-ignore no-explicit-any
      const established = (d.status?.conditions ?? []).some((c: any) => c.type === "Established" && c.status === "True");
      return established ? d : (last = "not Established yet", undefined);
    });
    const group = def.spec.group as string;
    const kind = def.spec.names.kind as string;
    // deno-lint-ignore no-explicit-any
    const versions = (def.spec.versions ?? []) as any[];
    const storage = versions.find((v) => v.storage)?.name;
    const other = versions.find((v) => v.served && !v.storage)?.name;
    if (!storage || !other) return;
    // Discovery of a new group or version may lag its Established condition.
    const list = await retry(`${group}/${storage} ${kind} could not be listed`, async () =>
      (await this.ctx.objects.list(`${group}/${storage}`, kind, undefined, undefined, undefined, undefined, undefined, undefined, 1)).unwrap());
    const sample = list.items?.[0];
    if (!sample?.metadata?.name) return;
    const before = counts.get(crd) ?? 0;
    await retry(`reading ${kind} ${sample.metadata.name} at ${group}/${other} did not call the webhook`, async () => {
      await this.ctx.objects.read({ apiVersion: `${group}/${other}`, kind, metadata: { name: sample.metadata!.name, namespace: sample.metadata!.namespace } } as never)
        .catch((err) => (last = (err as Error).message));
      return (counts.get(crd) ?? 0) !== before ? true : undefined;
    });
  }

  /** Deletes the configurations, points CRDs back, and waits until no probe is called any more. */
  async uninstall(seen: Map<string, Set<string>>): Promise<void> {
    const errors: string[] = [];
    for (const object of this.admission.splice(0)) {
      await this.ctx.objects.delete(object).catch((err) => {
        if (!(err instanceof KubeApiError && err.code === 404)) errors.push(`delete ${object.kind} ${object.metadata?.name}: ${(err as Error).message}`);
      });
    }
    for (const { crd, before } of this.crds.splice(0)) {
      const restore = before && (before as { strategy?: string }).strategy !== "Webhook" ? before : { strategy: "None" };
      await this.#setConversion(crd, restore).catch((err) => {
        if (!(err instanceof KubeApiError && err.code === 404)) errors.push(`point CRD ${crd} back: ${(err as Error).message}`);
      });
    }
    const deadline = Date.now() + this.timeoutMs;
    for (const probeId of this.probes.splice(0)) {
      while ((await this.#probe(probeId, seen)).seen) {
        if (Date.now() >= deadline) {
          errors.push(`the API server still called the removed configuration (probe ${probeId}) after ${this.timeoutMs / 1000} s`);
          break;
        }
        await sleep(PROBE_POLL_MS);
      }
    }
    if (errors.length) throw new Error(`webhooks: close(): ${errors.join("; ")}`);
  }
}
