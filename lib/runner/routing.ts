// env.fetch: host-side routing into the environment. A URL whose host falls
// under a service's declared names (ingress domains, dnsName) or is the
// service's own `<key>`/`<key>.internal` goes to that service's published
// port on 127.0.0.1, with the real host name as Host header and TLS SNI, and
// the certificate verified against the environment's CA. Other URLs are
// fetched normally. Every call is recorded.

import { nodeRequest } from "../node-request.ts";
import type { Recorder } from "../recorder.ts";
import { matchesDnsName } from "../service.ts";

export interface Route {
  /** Service key. */
  key: string;
  /** Host patterns (`*.example.test`, `api.test`) routed to this service. */
  patterns: string[];
  /** Container port → host port. */
  ports: Record<number, number>;
  /** Where this process connects (docker/topology.ts); default 127.0.0.1. */
  host?: string;
}

/**
 * `env.fetch` was asked for a URL that routes to a service (a declared name,
 * an ingress domain, `<key>.internal`) on a port that service does not publish.
 *
 * @example
 * ```ts
 * import { k3s, RoutingError, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s({ ingressDomains: ["example.test"] }) } });
 * try {
 *   await env.fetch("https://hello.example.test:8443/");
 * } catch (err) {
 *   if (!(err instanceof RoutingError)) throw err;
 *   console.error(err.message); // names the service and the ports it publishes
 * }
 * ```
 */
export class RoutingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RoutingError";
  }
}

/** Which service and published port a URL goes to, or undefined for "not ours". */
export function resolveRoute(routes: Route[], url: URL): { key: string; hostPort: number; host: string } | undefined {
  const host = url.hostname.toLowerCase();
  const route = routes.find((r) => host === r.key || host === `${r.key}.internal` || r.patterns.some((p) => matchesDnsName(p, host)));
  if (!route) return undefined;
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  const hostPort = route.ports[port];
  if (hostPort === undefined) {
    throw new RoutingError(
      `env.fetch(${url.href}): ${host} routes to service "${route.key}", which does not publish port ${port} (it publishes ${
        Object.keys(route.ports).join(", ") || "no ports"
      })`,
    );
  }
  return { key: route.key, hostPort, host: route.host ?? "127.0.0.1" };
}

export type EnvFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export function createEnvFetch(routes: Route[], caPem: string, recorder: Recorder): EnvFetch {
  const send = async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    // Routes carry HTTP(S) only: an ftp:// or ws:// URL would otherwise go out as plain HTTP.
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new RoutingError(`env.fetch(${url.href}): the scheme "${url.protocol.slice(0, -1)}" cannot be routed; give an http:// or https:// URL`);
    }
    // An already-aborted signal fails at once, as fetch() does (nodeRequest would only see a later abort).
    (init?.signal ?? (input instanceof Request ? input.signal : undefined))?.throwIfAborted();
    const target = resolveRoute(routes, url);
    if (!target) return fetch(input, init);
    // A Request carries its own method, headers and body; init overrides them.
    const merged: RequestInit = input instanceof Request
      ? { method: input.method, headers: input.headers, body: input.body ? await input.arrayBuffer() : undefined, signal: input.signal, ...init }
      : init ?? {};
    return nodeRequest(url.href, merged, { ca: caPem, servername: url.hostname }, { host: target.host, port: target.hostPort });
  };
  const recorded = recorder.fetch(send);
  return (input, init) => recorded(input, init);
}
