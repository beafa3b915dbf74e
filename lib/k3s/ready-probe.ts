// Host-side readiness for k3s: the same question as the in-container
// `kubectl get --raw=/readyz`, asked over the published API port with the
// cluster's admin certificate (TLS verified). A try costs ~1 ms instead of a
// `docker exec` plus a kubectl start inside a container that is still
// booting on the same CPUs.

import { loadKubeconfig, tlsMaterialOf } from "../kube/client.ts";
import { createTransport, type Transport } from "../kube/transport.ts";
import { causeChain } from "../kube/errors.ts";
import type { HelperContext } from "../service.ts";

const CERT_ERROR = /certificate|self.signed|verify|issuer|altname/i;

/**
 * A `readyProbe` for a k3s service. Answers "cannot tell" (undefined) until the
 * container has written its kubeconfig, and whenever the certificate does not
 * verify, so the exec check stays the authority in those cases.
 */
export function apiServerReadyProbe(kubeconfigPath: string, apiPort: number) {
  // One transport per running container, keyed by its published port (a
  // port can be reused by a later environment; see the certificate case below).
  const transports = new Map<number, Transport>();
  return async (ctx: HelperContext): Promise<boolean | undefined> => {
    const port = ctx.hostPort(apiPort);
    let transport = transports.get(port);
    if (!transport) {
      const read = await ctx.exec(["cat", kubeconfigPath]).catch(() => undefined);
      if (!read || read.code !== 0 || !read.stdout.includes("client-key-data")) return undefined;
      try {
        const { tls } = await tlsMaterialOf(loadKubeconfig(read.stdout));
        transport = createTransport(tls);
      } catch {
        return undefined; // half-written file: read it again next time
      }
      transports.set(port, transport);
    }
    try {
      const res = await transport.fetch(`https://127.0.0.1:${port}/readyz`, { method: "GET", signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status !== 200) return false;
      transport.close();
      transports.delete(port);
      return true;
    } catch (err) {
      if (!CERT_ERROR.test(causeChain(err))) return false;
      // The cached certificates do not fit this server (e.g. a later
      // environment got the same host port): read the kubeconfig afresh.
      transport.close();
      transports.delete(port);
      return undefined;
    }
  };
}
