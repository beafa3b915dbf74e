// mTLS transport to the API server, native to each runtime. It presents the
// client certificate and verifies the server against the kubeconfig's CA;
// there is no option to turn verification off.
//
//   Bun:  fetch(url, { tls: { ca, cert, key } })
//   Deno: fetch(url, { client: Deno.createHttpClient({ caCerts, cert, key }) })
//   Node: node:https (see ../node-request.ts)

import * as https from "node:https";
import { nodeRequest } from "../node-request.ts";
import { runtime } from "../runtime.ts";

export interface TlsMaterial {
  /** PEM CA bundle; when absent the system trust store is used. */
  ca?: string;
  /** PEM client certificate and key (k3s uses client-certificate auth). */
  cert?: string;
  key?: string;
}

export interface Transport {
  fetch(url: string, init: RequestInit): Promise<Response>;
  /** Releases pooled connections (Deno's HttpClient). */
  close(): void;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export function createTransport(tls: TlsMaterial): Transport {
  if (runtime === "bun") {
    const opts = { ca: tls.ca, cert: tls.cert, key: tls.key };
    return {
      fetch: (url, init) => fetch(url, { ...init, tls: opts } as RequestInit),
      close() {},
    };
  }
  if (runtime === "deno") {
    const client = g.Deno.createHttpClient({
      caCerts: tls.ca ? [tls.ca] : undefined,
      cert: tls.cert,
      key: tls.key,
    });
    return {
      fetch: (url, init) => fetch(url, { ...init, client } as RequestInit),
      close: () => client.close(),
    };
  }
  // One keep-alive pool per transport (one API server, one client identity):
  // a request reuses a verified connection instead of paying a TCP and mTLS
  // handshake on both sides, as Bun's fetch and Deno's HttpClient do.
  const agent = new https.Agent({ keepAlive: true });
  return {
    fetch: (url, init) => nodeRequest(url, init, { ca: tls.ca, cert: tls.cert, key: tls.key, agent }),
    close: () => agent.destroy(),
  };
}
