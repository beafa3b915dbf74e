// The HTTP layer handed to @kubernetes/client-node. It sends each request
// over our mTLS transport, records it on the environment's timeline as a
// `kube` event (or drops discovery plumbing), and leaves the event's sequence
// number in the caller's async slot so the parsed result can be tagged.

import { AsyncLocalStorage } from "node:async_hooks";
import type { HttpLibrary, KubernetesClientModule, RequestContext, ResponseContext } from "../../deps.ts";
import type { KubeMeta, Recorder } from "../recorder.ts";
import { describeKubeRequest, isKubeDiscoveryPath } from "./describe.ts";
import { causeChain } from "./errors.ts";
import type { Transport } from "./transport.ts";

/** Per-API-call scratch space: the last event the call produced. */
export interface CallSlot {
  seq?: number;
  meta?: KubeMeta | null;
  method?: string;
  url?: string;
}

export const callSlots = new AsyncLocalStorage<CallSlot>();

/** Thrown when the API server could not be reached at all (TLS, refused, …). */
export class KubeTransportError extends Error {
  constructor(readonly method: string, readonly url: string, cause: unknown) {
    super(`${method} ${url}: ${causeChain(cause)}`, { cause });
    this.name = "KubeTransportError";
  }
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
export function createHttpLibrary(kube: KubernetesClientModule, transport: Transport, recorder: Recorder): HttpLibrary {
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
      try {
        res = await transport.fetch(url, {
          method,
          headers: request.getHeaders(),
          body: request.getBody() as BodyInit | undefined,
          signal: request.getSignal() as AbortSignal | undefined,
        });
        body = new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        recorder.end(seq, { error: (err as Error)?.message ?? String(err) });
        throw new KubeTransportError(method, url, err);
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
