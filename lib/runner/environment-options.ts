// What startEnvironment is given and what it says about each running
// service: the types the start's steps share (environment.ts re-exports them).

import type { ServiceDefinition } from "../service.ts";

// deno-lint-ignore no-explicit-any
export type AnyDefinition = ServiceDefinition<any>;
export type Services = Record<string, AnyDefinition>;

/**
 * What `startEnvironment` takes: the services to start, by key, and how.
 * Checked before anything starts: a bad value rejects with an
 * EnvironmentOptionError naming the field.
 *
 * @example
 * ```ts
 * import { type EnvironmentOptions, generateCa, k3s, startEnvironment } from "k3sbox";
 *
 * const ca = await generateCa({ commonName: "my tests CA" });
 * const services = { k8s: k3s({ ingressDomains: ["example.test"] }) };
 * const options: EnvironmentOptions<typeof services> = {
 *   services,
 *   ca: { certPem: ca.certPem, keyPem: await ca.keyPem() }, // ingress certificates from your own CA
 *   onProgress: (message) => console.error(message),
 *   reuse: false, // always a fresh environment, even with K3SBOX_REUSE=1
 * };
 * await using env = await startEnvironment(options);
 * ```
 */
export interface EnvironmentOptions<S extends Services> {
  /** The services to start, by key: `env.svc.<key>`, and `<key>`/`<key>.internal` on the environment's network. */
  services: S;
  /** CA for ingress certificates and env.fetch. Default: K3SBOX_CA_CERT/K3SBOX_CA_KEY, else a fresh one. */
  ca?: { certPem: string; keyPem: string };
  /** Progress on long steps (pulls, readiness, rollouts). */
  onProgress?: (message: string) => void;
  /**
   * Label the environment as detached: `prune` leaves it alone and it
   * outlives this process after `env.detach()`; remove it with `k3sbox down <id>`.
   */
  detached?: boolean;
  /**
   * Keep the environment when this process ends, and attach to a running one
   * started with the same service definitions (after its ready checks pass)
   * instead of starting anew. Default: K3SBOX_REUSE=1. See lib/runner/reuse.ts.
   */
  reuse?: boolean;
  /**
   * Where this process reaches the containers (an IP address or host name of
   * the Docker daemon's host), overriding K3SBOX_HOST and the detected
   * topology (docker/topology.ts). `"dial,publish"` dials `dial` and has
   * Docker publish on `publish` (when a NAT or forward sits between them).
   */
  host?: string;
  /**
   * The address containers reach this process at (`host.k3sbox.internal`,
   * `env.hostAddress`), overriding K3SBOX_HOST_ADDRESS and the decision from
   * the topology (docker/host-address.ts): for a remote daemon with a route
   * back to this machine (a VPN, a shared LAN), where none is decided.
   */
  hostAddress?: string;
}

/**
 * A started service's container and where this process reaches it
 * (`env.services.<key>`).
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const { host, ports, containerName } = env.services.k8s;
 * console.log(`${containerName}: API server at https://${host}:${ports[6443]}`);
 * ```
 */
export interface RunningService {
  key: string;
  containerId: string;
  containerName: string;
  /** Address on the environment's network. */
  ip: string;
  /** Container TCP port → the port this process dials at `host`. */
  ports: Record<number, number>;
  /** Where this process connects to the service (see `Environment.topology`). */
  host: string;
  /** Container TCP port → host port on 127.0.0.1 of the Docker daemon's host (e.g. for `docker push 127.0.0.1:<port>/…`). */
  daemonPorts: Record<number, number>;
}
