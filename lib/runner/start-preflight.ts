// The first two steps of a start: "preflight" (the CA, Docker's facts and
// images, the topology) and "network" (the environment's network, joined by
// this process's container where it dials containers directly, and the
// address containers reach this process at). Creating makes the network;
// attaching finds the reused environment's.

import process from "node:process";
import { createNetwork, inspectContainer, networkGateway } from "../docker.ts";
import { detectTopology, joinNetwork, LABEL_JOINED, type Topology } from "../docker/topology.ts";
import { decideHostAddress, type HostAddressDecision } from "../docker/host-address.ts";
import { type CertificateAuthority, caFromEnv, generateCa, loadCaNamed } from "../pki.ts";
import { LABEL_OWNER_CONTAINER, networkName } from "./labels.ts";
import { preflight, type PreflightResult } from "./preflight.ts";
import { ensureContainerWatchdog } from "./reaper.ts";
import { reuseCa } from "./reuse.ts";
import type { EnvironmentOptions, Services } from "./environment-options.ts";
import type { StartRun } from "./start-run.ts";

/** Attaching creates nothing: its containers already run, so images and privileges were checked. */
const ATTACHED_HOST: PreflightResult = { dockerVersion: "", dockerHubMirrors: [], privileges: {} };

async function environmentCa(opts: EnvironmentOptions<Services>): Promise<CertificateAuthority> {
  if (opts.ca) return await loadCaNamed(opts.ca.certPem, opts.ca.keyPem, { cert: "startEnvironment: ca.certPem", key: "startEnvironment: ca.keyPem" });
  return (await caFromEnv()) ?? (await generateCa({ commonName: "k3sbox environment CA" }));
}

/** Preflight of a new environment: its CA (saved for later runs under reuse), images and privileges, the topology. */
export async function preflightCreate(run: StartRun): Promise<void> {
  [run.ca, run.host, run.topology] = await Promise.all([
    run.reuse ? reuseCa(run.envId, false, () => environmentCa(run.opts)) : environmentCa(run.opts),
    preflight(run.services, run.progress),
    detectTopology(run.opts.host),
  ]);
  settleReach(run);
  if (run.topology.processContainer) {
    // This process's pid means something only in its container: label the owner container too (prune, down, watchdog).
    run.labels[LABEL_OWNER_CONTAINER] = run.topology.processContainer;
    ensureContainerWatchdog(run.topology.processContainer);
  }
}

/** Preflight of an attach: the reused environment's saved CA and the topology. */
export async function preflightAttach(run: StartRun): Promise<void> {
  [run.ca, run.host, run.topology] = await Promise.all([reuseCa(run.envId, true, () => environmentCa(run.opts)), ATTACHED_HOST, detectTopology(run.opts.host)]);
  settleReach(run);
}

function settleReach(run: StartRun): void {
  run.reachHosts = run.topology.tlsSans.length ? run.topology.tlsSans : ["127.0.0.1"];
  run.hostFacts = { dockerHubMirrors: run.host.dockerHubMirrors };
}

/** Creates the environment's network (recorded first: a stop racing the create still removes it). */
export async function networkCreate(run: StartRun): Promise<void> {
  const { res, topology, labels } = run;
  res.network = networkName(run.envId);
  const networkLabels = topology.ownContainer ? { ...labels, [LABEL_JOINED]: topology.ownContainer } : labels;
  await res.creating(createNetwork(res.network, networkLabels));
  await joinAndDecide(run, res.network);
}

/** The reused environment's network: not recorded as this start's, so a failed attach leaves it to removeReused. */
export async function networkAttach(run: StartRun): Promise<void> {
  await joinAndDecide(run, networkName(run.envId));
}

async function joinAndDecide(run: StartRun, network: string): Promise<void> {
  const { res, topology } = run;
  if (topology.mode === "network" && topology.ownContainer) {
    res.joined = topology.ownContainer;
    await joinNetwork(network, topology.ownContainer);
  }
  run.hostAddress = await hostAddressFor(topology, network, run.opts.hostAddress);
  res.checkNotStopping();
}

/** Where the containers reach this process (docker/host-address.ts): the override, else from the topology and `network`. */
async function hostAddressFor(topology: Topology, network: string, option: string | undefined): Promise<HostAddressDecision> {
  const fromEnv = process.env.K3SBOX_HOST_ADDRESS;
  const override = option !== undefined
    ? { address: option, source: "startEnvironment({ hostAddress })" }
    : fromEnv
    ? { address: fromEnv.trim(), source: "K3SBOX_HOST_ADDRESS" }
    : undefined;
  if (override || topology.kind === "tcp" || topology.kind === "ssh") return decideHostAddress(topology, { override });
  if (topology.mode === "network" && topology.ownContainer) {
    const own = await inspectContainer(topology.ownContainer);
    return decideHostAddress(topology, { ownIp: own.networks[network]?.ip });
  }
  // A failed inspect costs host.k3sbox.internal (said when it is asked for), not the start.
  const gateway = await networkGateway(network).catch((err: Error) => err);
  if (gateway instanceof Error) return { ok: false, reason: `docker network inspect ${network} failed: ${gateway.message.split("\n")[0]}` };
  return decideHostAddress(topology, { gateway });
}
