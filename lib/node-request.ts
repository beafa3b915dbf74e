// A fetch-shaped request over `node:https`/`node:http`. Used as the Node
// transport, and by env.fetch on every runtime because only node:https lets
// us connect to 127.0.0.1:<published port> while sending the real host name
// as SNI and Host header (and verifying the certificate against it).

import * as http from "node:http";
import * as https from "node:https";
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";

export interface NodeRequestTls {
  /** PEM CA bundle to verify the server against (verification is never off). */
  ca?: string;
  cert?: string;
  key?: string;
  /** Name sent as SNI and checked against the certificate. Default: the URL's host. */
  servername?: string;
}

export interface ConnectOverride {
  /** Connect here instead of resolving the URL's host. */
  host: string;
  port: number;
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init?.headers).forEach((v, k) => (out[k] = v));
  return out;
}

async function bodyOf(init: RequestInit | undefined): Promise<Uint8Array | undefined> {
  if (init?.body === undefined || init.body === null) return undefined;
  return new Uint8Array(await new Response(init.body).arrayBuffer());
}

/** Sends one request and resolves with a web `Response` (body buffered). */
export async function nodeRequest(
  url: string,
  init: RequestInit = {},
  tls: NodeRequestTls = {},
  connect?: ConnectOverride,
): Promise<Response> {
  const u = new URL(url);
  const body = await bodyOf(init);
  const headers = headersOf(init);
  if (!headers.host) headers.host = u.host;
  const secure = u.protocol === "https:";
  const name = tls.servername ?? u.hostname.replace(/^\[|\]$/g, "");
  const options: https.RequestOptions = {
    method: init.method ?? "GET",
    host: connect?.host ?? u.hostname.replace(/^\[|\]$/g, ""),
    port: connect?.port ?? (u.port ? Number(u.port) : secure ? 443 : 80),
    path: u.pathname + u.search,
    headers,
    ...(secure
      ? {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        // SNI carries host names only (RFC 6066; Node warns when given an IP).
        // The certificate is checked against `name` either way: with SNI set,
        // the default check uses it; an IP needs an explicit check. (Only
        // then: a custom check turns off Bun's connection reuse, which made
        // every env.fetch a new TLS handshake.)
        servername: isIP(name) ? undefined : name,
        // No pooling for an IP name either: with no SNI, connections for
        // different IPs would share one pool and skip the check.
        ...(isIP(name) ? { checkServerIdentity: (_host: string, cert: import("node:tls").PeerCertificate) => checkServerIdentity(name, cert), agent: false } : {}),
        rejectUnauthorized: true,
      }
      : {}),
  };
  const lib = secure ? https : http;
  return await new Promise<Response>((resolve, reject) => {
    const req = lib.request(options, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c: Uint8Array) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          for (const item of Array.isArray(v) ? v : [v]) out.append(k, item);
        }
        const status = res.statusCode ?? 0;
        const nullBody = status === 204 || status === 304 || options.method === "HEAD";
        resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: out }));
      });
    });
    req.on("error", reject);
    init.signal?.addEventListener("abort", () => req.destroy(new Error("request aborted")), { once: true });
    req.end(body);
  });
}
