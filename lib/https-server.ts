// An HTTPS server in this process, native to each runtime, behind one small
// interface: a fetch-style handler (Request → Response) on one address.
//
//   Bun:  Bun.serve({ hostname, port, tls: { cert, key }, fetch })
//   Deno: Deno.serve({ hostname, port, cert, key }, handler)
//   Node: node:https createServer({ cert, key }) with the request read whole
//
// Used by the webhook server (kube/webhooks.ts): the API server calls it.
// The key stays in memory; nothing is written to disk.

import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { runtime } from "./runtime.ts";

export interface HttpsServerOptions {
  /** Address to bind (one address: never all interfaces unless the caller says "0.0.0.0"). */
  hostname: string;
  /** 0: a free port. */
  port: number;
  /** PEM certificate (chain) the server presents. */
  certPem: string;
  /** PEM private key of the certificate. */
  keyPem: string;
  /** Largest request body accepted, in bytes; a larger one is answered 413. */
  maxBodyBytes: number;
  handler: (request: Request) => Promise<Response>;
}

export interface HttpsServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Starts an HTTPS server; resolves once it listens. */
export function serveHttps(opts: HttpsServerOptions): Promise<HttpsServer> {
  if (runtime === "bun") return serveBun(opts);
  if (runtime === "deno") return serveDeno(opts);
  return serveNode(opts);
}

/** The handler's answer, or a 500 naming what went wrong. */
async function answer(opts: HttpsServerOptions, request: Request): Promise<Response> {
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > opts.maxBodyBytes) return new Response(`request body larger than ${opts.maxBodyBytes} bytes`, { status: 413 });
  try {
    return await opts.handler(request);
  } catch (err) {
    return new Response(`k3sbox: the handler failed: ${(err as Error)?.message ?? err}`, { status: 500 });
  }
}

function serveBun(opts: HttpsServerOptions): Promise<HttpsServer> {
  const server = g.Bun.serve({
    hostname: opts.hostname,
    port: opts.port,
    tls: { cert: opts.certPem, key: opts.keyPem },
    maxRequestBodySize: opts.maxBodyBytes,
    fetch: (request: Request) => answer(opts, request),
  });
  return Promise.resolve({
    hostname: opts.hostname,
    port: server.port,
    close: async () => {
      await server.stop(true);
    },
  });
}

async function serveDeno(opts: HttpsServerOptions): Promise<HttpsServer> {
  let listening!: (port: number) => void;
  const ready = new Promise<number>((r) => (listening = r));
  const server = g.Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    cert: opts.certPem,
    key: opts.keyPem,
    onListen: (addr: { port: number }) => listening(addr.port),
  }, (request: Request) => answer(opts, request));
  const port = await ready;
  return {
    hostname: opts.hostname,
    port,
    close: async () => {
      await server.shutdown();
    },
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is drained, not kept, so the 413 can still be sent.
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on("end", () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function serveNode(opts: HttpsServerOptions): Promise<HttpsServer> {
  let port = 0;
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const body = await readBody(req, opts.maxBodyBytes);
      let response: Response;
      if (body === undefined) {
        response = new Response(`request body larger than ${opts.maxBodyBytes} bytes`, { status: 413 });
      } else {
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
        const method = req.method ?? "GET";
        const url = `https://${opts.hostname.includes(":") ? `[${opts.hostname}]` : opts.hostname}:${port}${req.url ?? "/"}`;
        response = await answer(opts, new Request(url, { method, headers, body: method === "GET" || method === "HEAD" ? undefined : new Uint8Array(body) }));
      }
      const out = Buffer.from(await response.arrayBuffer());
      const headers: Record<string, string> = {};
      response.headers.forEach((v, k) => (headers[k] = v));
      res.writeHead(response.status, { ...headers, "content-length": String(out.length) });
      res.end(out);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`k3sbox: ${(err as Error)?.message ?? err}`);
    }
  };
  const server = createServer({ cert: opts.certPem, key: opts.keyPem }, (req, res) => void onRequest(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    hostname: opts.hostname,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
