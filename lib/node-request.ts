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
  /** A keep-alive pool of the caller's own (the API server's transport: one server, one client identity). */
  agent?: https.Agent;
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

/** Sends one request and resolves with a web `Response` once the headers arrive (the body streams). */
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
  const host = connect?.host ?? u.hostname.replace(/^\[|\]$/g, "");
  // An IP name reached at another address (a ConnectOverride) needs a check
  // of its own: with no SNI, Node's default check compares the certificate
  // with the address connected to. Reached at that IP itself, the default
  // check is the right one, and it keeps the connection reusable (a custom
  // check made Node and Bun close it after every response).
  const ownCheck = isIP(name) !== 0 && host !== name;
  const options: https.RequestOptions = {
    method: init.method ?? "GET",
    host,
    port: connect?.port ?? (u.port ? Number(u.port) : secure ? 443 : 80),
    path: u.pathname + u.search,
    headers,
    ...(secure
      ? {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        // SNI carries host names only (RFC 6066; Node warns when given an IP).
        servername: isIP(name) ? undefined : name,
        // No pooling with a check of our own: the pool's key does not include
        // the name checked, so a connection checked for one name could serve
        // another.
        ...(ownCheck
          ? { checkServerIdentity: (_host: string, cert: import("node:tls").PeerCertificate) => checkServerIdentity(name, cert), agent: false }
          : tls.agent
          ? { agent: tls.agent }
          : {}),
        rejectUnauthorized: true,
      }
      : {}),
  };
  const lib = secure ? https : http;
  return await new Promise<Response>((resolve, reject) => {
    const req = lib.request(options, (res) => {
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v === undefined) continue;
        for (const item of Array.isArray(v) ? v : [v]) out.append(k, item);
      }
      const status = res.statusCode ?? 0;
      const nullBody = status === 204 || status === 304 || options.method === "HEAD";
      if (nullBody) res.resume();
      // Resolved at the headers, the body streamed: a watch sees each event as it comes.
      resolve(new Response(nullBody ? null : streamOf(res, () => req.destroy()), { status, statusText: res.statusMessage, headers: out }));
    });
    req.on("error", reject); // after the response began, errors reach its body stream instead
    if (init.signal?.aborted) req.destroy(init.signal.reason ?? new Error("request aborted")); // no abort event will come
    init.signal?.addEventListener("abort", () => req.destroy(new Error("request aborted")), { once: true });
    req.end(body);
  });
}

/** A web stream over a response, with backpressure; cancelling it closes the connection. */
function streamOf(res: http.IncomingMessage, close: () => void): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (chunk: Uint8Array) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on("end", () => {
        if (!settled) controller.close();
        settled = true;
      });
      const fail = (err: Error) => {
        if (!settled) controller.error(err);
        settled = true;
      };
      res.on("error", fail);
      // Destroyed (aborted, connection lost) before the end.
      res.on("close", () => fail(new Error("the response ended before its body was complete")));
    },
    pull() {
      res.resume();
    },
    cancel() {
      settled = true;
      close();
    },
  }, { highWaterMark: 16 });
}
