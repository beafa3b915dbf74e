// Where a socket this process listens on is reachable from the environment's
// containers (and pods): the address behind `host.k3sbox.internal` and
// `env.hostAddress`. Decided once per environment from the topology
// (topology.ts) and two facts about the environment's network: its gateway
// (the daemon host's own address on that bridge) and, when this process's
// container joined it, that container's address there.
//
// `decideHostAddress` is pure (tested without Docker).

import { isIP } from "node:net";
import type { Topology } from "./topology.ts";

/**
 * The name every container and pod resolves to the test process.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { HOST_ALIAS, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * const server = createServer((_req, res) => res.end("hello from the test process"));
 * server.listen(0, env.hostAddress);
 * const { port } = server.address() as { port: number };
 * const url = `http://${HOST_ALIAS}:${port}/`; // what a pod calls
 * ```
 */
export const HOST_ALIAS = "host.k3sbox.internal";

/**
 * The address cannot be decided for this topology; says why and what would change it.
 *
 * @example
 * ```ts
 * import { HostAddressError, k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * try {
 *   console.log(env.hostAddress);
 * } catch (err) {
 *   if (!(err instanceof HostAddressError)) throw err;
 *   console.error(err.message); // a remote daemon: pass startEnvironment({ hostAddress }) or K3SBOX_HOST_ADDRESS
 * }
 * ```
 */
export class HostAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostAddressError";
  }
}

export interface HostAddressFacts {
  /** IPAM gateway of the environment's network: the daemon host's address on that bridge. */
  gateway?: string;
  /** This process's container's address on the environment's network (network mode). */
  ownIp?: string;
  /** startEnvironment({ hostAddress }) or K3SBOX_HOST_ADDRESS: overrides the decision. */
  override?: { address: string; source: string };
}

/** Either the address (and why), or why there is none. */
export type HostAddressDecision =
  | { ok: true; address: string; reason: string }
  | { ok: false; reason: string };

const OVERRIDE_HINT = "set K3SBOX_HOST_ADDRESS (or startEnvironment({ hostAddress })) to an address of this machine that the daemon's containers can reach";

/**
 * The narrowest address a test server binds to that the containers reach:
 *
 * - local daemon, this process on its host (or in a container with the
 *   host's network): the network's gateway, the host's address on the
 *   environment's bridge only;
 * - this process in a container joined to the environment's network: its
 *   own address there;
 * - tcp:// and ssh:// daemons: none (the containers run on another machine
 *   and have no route to this process in general);
 * - K3SBOX_HOST overrides with a local socket: the gateway (the daemon is here).
 */
export function decideHostAddress(topology: Topology, facts: HostAddressFacts): HostAddressDecision {
  if (facts.override) {
    const { address, source } = facts.override;
    if (isIP(address) === 0) return { ok: false, reason: `${source}: ${JSON.stringify(address)} is not an IP address (e.g. 10.0.0.5)` };
    return { ok: true, address, reason: `${source} says the containers reach this process at ${address}` };
  }
  const gateway = facts.gateway && isIP(facts.gateway) ? facts.gateway : undefined;
  switch (topology.kind) {
    case "container":
      if (!facts.ownIp || isIP(facts.ownIp) === 0) {
        return { ok: false, reason: `this process runs in container ${topology.ownContainer?.slice(0, 12) ?? "?"} but has no address on the environment's network; ${OVERRIDE_HINT}` };
      }
      return { ok: true, address: facts.ownIp, reason: `this process's container joined the environment's network at ${facts.ownIp}` };
    case "tcp":
    case "ssh":
      return {
        ok: false,
        reason: `the Docker daemon is remote (${topology.kind}: ${topology.endpoint}): its containers run on another machine and have no route back to this process in general; ` +
          `run the tests on the daemon's host, or ${OVERRIDE_HINT} (e.g. over a VPN)`,
      };
    case "local":
    case "override":
      if (topology.kind === "override" && !/^(unix|npipe|fd):/.test(topology.endpoint)) {
        return { ok: false, reason: `K3SBOX_HOST is set and the Docker daemon is at ${topology.endpoint}, not on this machine's socket; ${OVERRIDE_HINT}` };
      }
      if (!gateway) return { ok: false, reason: `the environment's network has no IPv4/IPv6 gateway (docker network inspect shows none); ${OVERRIDE_HINT}` };
      return { ok: true, address: gateway, reason: `this process shares the daemon's host, which is ${gateway} on the environment's network (its gateway)` };
  }
}

/** The `--add-host` value, or none when there is no address. */
export function addHostEntry(decision: HostAddressDecision): string | undefined {
  return decision.ok ? `${HOST_ALIAS}:${decision.address}` : undefined;
}

/** The decision's address, or a HostAddressError naming the topology. `what` names the caller (e.g. "env.hostAddress"). */
export function hostAddressOf(decision: HostAddressDecision, topology: Topology, what: string): string {
  if (decision.ok) return decision.address;
  throw new HostAddressError(`${what}: no address where the containers reach this process (${HOST_ALIAS}): ${decision.reason}.\nTopology: ${topology.kind} — ${topology.reason}.`);
}
