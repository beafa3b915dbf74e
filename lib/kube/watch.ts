// Streaming watch over the same mTLS transport. client-node's own Watch class
// uses its HTTP stack (which does not present client certificates under Bun
// or Deno), and the generated `list…({ watch: true })` methods buffer the
// whole stream, so watches get this small reader of newline-delimited JSON.

import type { Recorder } from "../recorder.ts";
import { describeKubeRequest } from "./describe.ts";
import { KubeTransportError } from "./http-library.ts";
import type { Transport } from "./transport.ts";

export interface WatchEvent<T = Record<string, unknown>> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface WatchOptions {
  /** Query parameters such as labelSelector, fieldSelector, resourceVersion. */
  query?: Record<string, string>;
  /** Server-side end of the watch. Default 60 s. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/**
 * Watches a collection path (e.g. `/api/v1/namespaces/default/pods`) and
 * calls `onEvent` for each event until the server ends the stream, the
 * signal aborts, or `onEvent` returns `false`.
 */
export async function watchPath<T = Record<string, unknown>>(
  transport: Transport,
  recorder: Recorder,
  server: string,
  path: string,
  onEvent: (event: WatchEvent<T>) => boolean | void,
  opts: WatchOptions = {},
): Promise<void> {
  const params = new URLSearchParams({ ...opts.query, watch: "true", timeoutSeconds: String(opts.timeoutSeconds ?? 60) });
  const url = `${server.replace(/\/$/, "")}${path}?${params}`;
  const seq = recorder.begin("GET", url);
  const meta = describeKubeRequest("GET", url);
  if (meta) recorder.annotate(seq, { kind: "kube", ...meta });
  const abort = new AbortController();
  opts.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  let res: Response;
  try {
    res = await transport.fetch(url, { method: "GET", signal: abort.signal, headers: { accept: "application/json" } });
  } catch (err) {
    recorder.end(seq, { error: (err as Error)?.message ?? String(err) });
    throw new KubeTransportError("GET", url, err);
  }
  recorder.end(seq, { status: res.status });
  if (!res.ok || !res.body) throw new Error(`watch ${path}: ${res.status} ${await res.text()}`);

  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += value;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line && onEvent(JSON.parse(line) as WatchEvent<T>) === false) return;
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    await reader.cancel().catch(() => {});
    abort.abort();
  }
}
