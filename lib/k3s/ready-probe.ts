// Host-side readiness for k3s: the same question as the in-container
// `kubectl get --raw=/readyz`, asked over the published API port with the
// cluster's admin certificate (TLS verified). A try costs ~1 ms instead of a
// `docker exec` plus a kubectl start inside a container that is still
// booting on the same CPUs.

import { loadKubeconfig, tlsMaterialOf } from "../kube/client.ts";
import { createTransport, type Transport } from "../kube/transport.ts";
import { causeChain } from "../kube/errors.ts";
import { type HelperContext, hostPortOf } from "../service.ts";

const CERT_ERROR = /certificate|self.signed|verify|issuer|altname/i;

/**
 * Reads a container's kubeconfig once (`docker exec cat`), for both the
 * ready probe and the helpers: attaching to a reused cluster then costs one
 * exec instead of two. Only a complete file (with its client key) is kept,
 * keyed by container; `forget` drops it once the helpers have it.
 */
export function kubeconfigReader(kubeconfigPath: string) {
  const read = new Map<string, string>();
  return {
    async get(ctx: HelperContext): Promise<{ text?: string; error?: string }> {
      const cached = read.get(ctx.container);
      if (cached) return { text: cached };
      const r = await ctx.exec(["cat", kubeconfigPath]).catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
      if (r.code !== 0) return { error: r.stderr.trim() || `exit ${r.code}` };
      if (!r.stdout.includes("client-key-data")) return { error: "the file has no client key yet" };
      read.set(ctx.container, r.stdout);
      return { text: r.stdout };
    },
    forget(ctx: HelperContext): void {
      read.delete(ctx.container);
    },
  };
}

/**
 * A `readyProbe` for a k3s service. Answers "cannot tell" (undefined) until the
 * container has written its kubeconfig, and whenever the certificate does not
 * verify, so the exec check stays the authority in those cases.
 */
export function apiServerReadyProbe(kubeconfig: ReturnType<typeof kubeconfigReader>, apiPort: number) {
  // One transport per running container.
  const transports = new Map<string, Transport>();
  return async (ctx: HelperContext): Promise<boolean | undefined> => {
    const port = ctx.hostPort(apiPort);
    let transport = transports.get(ctx.container);
    if (!transport) {
      const { text } = await kubeconfig.get(ctx);
      if (!text) return undefined;
      try {
        const { tls } = await tlsMaterialOf(await loadKubeconfig(text));
        transport = createTransport(tls);
      } catch {
        kubeconfig.forget(ctx); // half-written file: read it again next time
        return undefined;
      }
      transports.set(ctx.container, transport);
    }
    try {
      const res = await transport.fetch(`https://${hostPortOf(ctx.host, port)}/readyz`, { method: "GET", signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status !== 200) return false;
      transport.close();
      transports.delete(ctx.container);
      return true;
    } catch (err) {
      if (!CERT_ERROR.test(causeChain(err))) return false;
      // The certificates read do not fit this server (yet): read the kubeconfig afresh.
      transport.close();
      transports.delete(ctx.container);
      kubeconfig.forget(ctx);
      return undefined;
    }
  };
}
