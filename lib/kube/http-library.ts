// The HTTP layer handed to @kubernetes/client-node. It sends each request
// over our mTLS transport, records it on the environment's timeline as a
// `kube` event (or drops discovery plumbing), and leaves the event's sequence
// number in the caller's async slot so the parsed result can be tagged.

import type { HttpLibrary, KubernetesClientModule, RequestContext, ResponseContext } from "../../deps.ts";
import type { Recorder } from "../recorder.ts";
import { callSlots } from "./call-slot.ts";
import { describeKubeRequest, isKubeDiscoveryPath } from "./describe.ts";
import { causeChain } from "./errors.ts";
import type { Transport } from "./transport.ts";
import { abortable, currentRequestSignal, KUBE_REQUEST_TIMEOUT_MS } from "./request-scope.ts";


/**
 * Thrown when the API server could not be reached at all (TLS, refused, no answer in time, …).
 *
 * @example
 * ```ts
 * import { k3s, KubeTransportError, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const [server] = await env.svc.k8s.nodes();
 * await server.pause();
 * try {
 *   await env.svc.k8s.client.core.listNamespace();
 * } catch (err) {
 *   if (!(err instanceof KubeTransportError)) throw err;
 *   console.log(err.fault); // says the API server's container is paused
 * } finally {
 *   await server.unpause();
 * }
 * ```
 */
export class KubeTransportError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    cause: unknown,
    /** What is wrong with the API server's container (paused, exited, off its network), when that explains it. */
    readonly fault?: string,
  ) {
    super(fault ? `${method} ${url}: ${fault}\n(the request failed with: ${causeChain(cause)})` : `${method} ${url}: ${causeChain(cause)}`, { cause });
    this.name = "KubeTransportError";
  }
}

/** Says what is wrong with the API server's container, or undefined when nothing is (see HelperContext.fault); answers within `withinMs`. */
export type FaultProbe = (opts?: { withinMs?: number }) => Promise<string | undefined>;

export interface HttpLibraryOptions {
  /** Each request's own timeout. Default KUBE_REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number;
  /** Asked when a request fails without an answer, so the error names the fault rather than ECONNRESET. */
  fault?: FaultProbe;
}

/** Budget for asking Docker what happened when a request was cut off at a deadline: the wait must end within a second of it. */
export const FAULT_PROBE_MS = 700;
/**
 * Budget when a request failed by itself (refused, reset): Docker may take a
 * moment to report a killed container as exited, and no deadline is at stake.
 */
export const FAULT_PROBE_REFUSED_MS = 4_500; // within the 5 s a fault must be reported in; a loaded dockerd needs seconds

/** The request's failure as the caller should read it: a timeout says how long it waited. */
function failureReason(err: unknown, timeout: AbortSignal, timeoutMs: number, signal: AbortSignal): unknown {
  if (timeout.aborted) return new Error(`the API server did not answer within ${timeoutMs / 1000} s`, { cause: err });
  if (signal.aborted) return signal.reason ?? err;
  return err;
}

/** The probe's answer within `withinMs`, else undefined. */
export async function probeFault(fault: FaultProbe | undefined, withinMs = FAULT_PROBE_MS): Promise<string | undefined> {
  if (!fault) return undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), withinMs)));
  try {
    return await Promise.race([fault({ withinMs: withinMs - 100 }).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The signal a request runs under: its own timeout, the client's per-request
 * signal and the operation's (request-scope.ts), whichever ends first.
 */
export function requestSignal(timeoutMs: number, own?: AbortSignal): { signal: AbortSignal; timeout: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signals = [timeout, own, currentRequestSignal()].filter((s): s is AbortSignal => s !== undefined);
  return { signal: signals.length === 1 ? timeout : AbortSignal.any(signals), timeout };
}

/** A create names its object in the body; read it so the timeline can show it. */
function nameInBody(body: unknown): string | undefined {
  if (typeof body !== "string" || !body.startsWith("{")) return undefined;
  try {
    const meta = JSON.parse(body)?.metadata;
    return typeof meta?.name === "string" ? meta.name : undefined;
  } catch {
    return undefined;
  }
}

/** A server-side apply is a PATCH with the apply content type; the timeline calls it "apply". */
function isApplyPatch(request: RequestContext): boolean {
  const headers = request.getHeaders();
  const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1] ?? "";
  return type.startsWith("application/apply-patch");
}

/** `kube`: the loaded client module (deps.ts loads it lazily). */
export function createHttpLibrary(kube: KubernetesClientModule, transport: Transport, recorder: Recorder, opts: HttpLibraryOptions = {}): HttpLibrary {
  const timeoutMs = opts.requestTimeoutMs ?? KUBE_REQUEST_TIMEOUT_MS;
  return kube.wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const url = request.getUrl();
      const method = String(request.getHttpMethod());
      const meta = describeKubeRequest(method, url);
      if (meta?.verb === "create" && meta.name === undefined) meta.name = nameInBody(request.getBody());
      if (meta?.verb === "patch" && isApplyPatch(request)) meta.verb = "apply";
      const seq = recorder.begin(method, url);
      const slot = callSlots.getStore();
      if (slot) Object.assign(slot, { seq, meta, method, url });

      let res: Response;
      let body: Uint8Array<ArrayBuffer>;
      const { signal, timeout } = requestSignal(timeoutMs, request.getSignal() as AbortSignal | undefined);
      try {
        // abortable: the deadline holds even if a transport kept waiting on a frozen server.
        res = await abortable(transport.fetch(url, { method, headers: request.getHeaders(), body: request.getBody() as BodyInit | undefined, signal }), signal);
        body = new Uint8Array(await abortable(res.arrayBuffer(), signal));
      } catch (err) {
        const reason = failureReason(err, timeout, timeoutMs, signal);
        recorder.end(seq, { error: (reason as Error)?.message ?? String(reason) });
        // Cut off (deadline, caller): little time to ask. Failed by itself: time to let Docker catch up.
        throw new KubeTransportError(method, url, reason, await probeFault(opts.fault, signal.aborted ? FAULT_PROBE_MS : FAULT_PROBE_REFUSED_MS));
      }
      recorder.end(seq, { status: res.status });
      if (meta) recorder.annotate(seq, { kind: "kube", ...meta });
      else if (isKubeDiscoveryPath(url)) recorder.remove(seq);

      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => (headers[k] = v));
      return new kube.ResponseContext(res.status, headers, {
        text: () => Promise.resolve(new TextDecoder().decode(body)),
        binary: () => Promise.resolve(Buffer.from(body)),
        stream: () => new Blob([body]).stream(),
      });
    },
  });
}
