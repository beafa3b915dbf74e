// startEnvironment: runs a set of ServiceDefinitions in Docker and hands
// back their helpers, a routed fetch, kubeconfigs and a timeline. Anything it
// created is removed by stop() / `await using`, by a failed start, and on
// SIGINT/SIGTERM.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  connectNetwork,
  copyInto,
  createContainer,
  createNetwork,
  execIn,
  inspectContainer,
  networkGateway,
  removeContainers,
  removeNetworks,
  startContainer,
  type ContainerInfo,
  DockerError,
  type WaitHandle,
  waitExit,
} from "../docker.ts";
import { detectTopology, joinNetwork, LABEL_JOINED, leaveNetwork, type Topology, TopologyError } from "../docker/topology.ts";
import { addHostEntry, decideHostAddress, type HostAddressDecision, hostAddressOf } from "../docker/host-address.ts";
import { proveReachable, type ReachTarget } from "./reach.ts";
import { startSshForward } from "../docker/ssh-forward.ts";
import { type CertificateAuthority, caFromEnv, generateCa, issueLeaf, loadCaNamed } from "../pki.ts";
import { type RecordedEvent, Recorder } from "../recorder.ts";
import {
  expandServiceToken,
  fileMode,
  type HelperContext,
  type HelpersOf,
  type HostFacts,
  type PeerAddress,
  type ServiceDefinition,
} from "../service.ts";
import { archiveOf } from "../docker/archive.ts";
import { containerName, environmentLabels, LABEL_OWNER_CONTAINER, LABEL_SERVICE, networkName, newEnvironmentId } from "./labels.ts";
import { preflight, type PreflightResult } from "./preflight.ts";
import { ensureContainerWatchdog, ensureReaper } from "./reaper.ts";
import { describeContainer, ServiceNotReadyError, waitReady } from "./readiness.ts";
import { environmentDiagnostics } from "./diagnostics.ts";
import { containerFault } from "./container-fault.ts";
import { watchHookFaults } from "./hook-faults.ts";
import { DISPOSE_TIMEOUT_MS, hookTimeoutMs, runHook } from "./hooks.ts";
import { checkEnvFlags } from "./env-flags.ts";
import { SWEEP_WAIT_MS, sweepDeadEnvironments } from "./sweep.ts";
import { checkTimeoutMs } from "../limits.ts";
import { LABEL_REUSE, liveAttachments, markAttached, markStarted, removeReused, reusableFor, reuseCa, reuseRequested } from "./reuse.ts";
import { createEnvFetch, type EnvFetch } from "./routing.ts";
import { trackEnvironment, unlessExitingOnSignal, untrackEnvironment } from "./signals.ts";
import { kubeconfigYaml } from "./kubeconfig-file.ts";
import { environmentDir, removeEnvironmentDir, stateDirError } from "./state-dir.ts";
import { validateEnvironmentOptions, validateFiles } from "./validate.ts";
import { checkCompanionName, listCompanions, startCompanion } from "./companions.ts";
import type { CompanionSpec, PreparedContainer, RunningCompanion, ServiceFile } from "../service.ts";

// deno-lint-ignore no-explicit-any
type AnyDefinition = ServiceDefinition<any>;
type Services = Record<string, AnyDefinition>;

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

/**
 * A started environment: its services' helpers (`svc`), routing into it
 * (`fetch`), kubeconfig files, the recorded calls and diagnostics.
 * `await using` or `stop()` removes every container, network and file it made.
 *
 * @example
 * ```ts
 * import { type Environment, k3s, startEnvironment } from "k3sbox";
 *
 * const services = { k8s: k3s({ ingressDomains: ["example.test"] }) };
 * const env: Environment<typeof services> = await startEnvironment({ services });
 * try {
 *   const kubeconfig = await env.kubeconfigPath("k8s"); // for kubectl or helm, 0600, removed at stop
 *   const res = await env.fetch("https://hello.example.test/");
 *   console.log(kubeconfig, res.status, env.timings);
 * } catch (err) {
 *   console.error(await env.diagnostics()); // pod states, warning events, log tails and the timeline
 *   throw err;
 * } finally {
 *   console.log(env.timeline());
 *   await env.stop();
 * }
 * ```
 */
export interface Environment<S extends Services> extends AsyncDisposable {
  readonly id: string;
  readonly network: string;
  /** Each service's helpers, e.g. `env.svc.k8s.client`. */
  readonly svc: { [K in keyof S]: HelpersOf<S[K]> };
  readonly services: Record<keyof S & string, RunningService>;
  /** PEM of the CA that signs ingress certificates; trust it to reach them yourself. */
  readonly caPem: string;
  /**
   * Milliseconds per start phase (preflight, network, containers, ready,
   * helpers, setup, peers), and durations services record as `<key>: <name>`
   * (k3s: `k8s: k8s-agent-1 Ready`, from the agents' start).
   */
  readonly timings: Record<string, number>;
  /** fetch() that routes service names and ingress domains into the environment. */
  fetch: EnvFetch;
  /** The port this process dials (at `services[key].host`) for a service's container port. */
  hostPort(key: keyof S & string, containerPort: number): number;
  /** How this process reaches the containers, and why (docker/topology.ts). */
  readonly topology: Topology;
  /**
   * The address a server in this process binds to so that every container
   * and pod reaches it as `host.k3sbox.internal`: the environment network's
   * gateway for a local daemon (not all interfaces), this process's
   * container's address when it runs in one (docker/host-address.ts).
   * Throws a HostAddressError naming the topology where containers cannot
   * reach this process (tcp:// and ssh:// daemons) unless `hostAddress` /
   * K3SBOX_HOST_ADDRESS says where.
   */
  readonly hostAddress: string;
  /**
   * The service's port on 127.0.0.1 of the Docker daemon's host: what the
   * daemon itself reaches, e.g. `docker push 127.0.0.1:<daemonPort(k, 5000)>/app`
   * to the in-cluster registry (Docker trusts plain HTTP on 127.0.0.1).
   */
  daemonPort(key: keyof S & string, containerPort: number): number;
  /** Writes the service's kubeconfig to a 0600 file (removed at stop) and returns its path. */
  kubeconfigPath(key: keyof S & string): Promise<string>;
  /** The recorded calls (the newest 10 000), in the order they started. */
  events(): RecordedEvent[];
  /** One line per recorded call: `create deployments · default/hello 201 12ms`. */
  timeline(): string;
  /**
   * For a failed test: each service's state (k3s: pod states, warning events,
   * failing containers' log tails) and the newest timeline lines. Never throws.
   */
  diagnostics(): Promise<string>;
  /** Removes the environment (containers, network, files); what `await using` calls. A reuse environment is kept. */
  stop(): Promise<void>;
  /**
   * Releases the environment from this process without removing it: no
   * cleanup at exit or on signals. Only for `detached: true` environments.
   */
  detach(): void;
}

/** What a start created so far; stop() removes exactly this, once. */
class Resources {
  containers: string[] = [];
  network?: string;
  /** Network mode: this process's container, connected to `network` (disconnected before it is removed). */
  joined?: string;
  waits: WaitHandle[] = [];
  /** The environment's private directory (state-dir.ts), created on first use (kubeconfigs); removed at stop. */
  dir?: Promise<string>;
  disposers: (() => void | Promise<void>)[] = [];
  /** A started reuse environment: stop() only releases this process's hold (disposers, waits). */
  keep = false;
  /** Aborted when stop() begins: waits and hooks still running give up. */
  readonly abort = new AbortController();
  /** Docker creates in flight: stop() lets them finish, so nothing appears after it removed everything. */
  readonly #creating = new Set<Promise<unknown>>();
  #stopped?: Promise<void>;

  constructor(readonly envId: string) {}

  get stopping(): boolean {
    return this.#stopped !== undefined;
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.abort.abort(new Error("k3sbox: the environment was stopped"));
      untrackEnvironment(this);
      // Promise.resolve().then: a disposer that throws synchronously must not skip the removal below.
      await Promise.allSettled(this.disposers.map((d) => Promise.resolve().then(d)));
      for (const w of this.waits) w.cancel();
      if (this.keep) return;
      // A `docker network create` still running when stop() removes the
      // network would create it afterwards (a Ctrl-C during the start). Each
      // docker command has its own deadline, so this wait is bounded.
      await Promise.allSettled([...this.#creating]);
      const errors: unknown[] = [];
      // The private directory first: the crash watchdog finds an environment
      // by its containers and network, so a process killed mid-stop must not
      // have removed those and left the directory (its kubeconfigs) behind.
      if (this.dir) await this.dir.then(() => removeEnvironmentDir(this.envId), () => {}).catch((e) => errors.push(e));
      await removeContainers(this.containers).catch((e) => errors.push(e));
      if (this.network && this.joined) await leaveNetwork(this.network, this.joined).catch((e) => errors.push(e));
      if (this.network) await removeNetworks([this.network]).catch((e) => errors.push(e));
      if (errors.length) throw new AggregateError(errors, `k3sbox: teardown incomplete: ${errors.map((e) => (e as Error).message).join("; ")}`);
    })();
    return this.#stopped;
  }

  /** Runs a Docker create that stop() must wait for (see stop). */
  creating<T>(create: Promise<T>): Promise<T> {
    this.#creating.add(create);
    const done = () => void this.#creating.delete(create);
    create.then(done, done);
    return create;
  }

  /** Fails a start that is racing a stop (e.g. Ctrl-C during boot). */
  checkNotStopping(): void {
    if (this.stopping) throw new Error("k3sbox: the environment was stopped while starting");
  }

  /** Records a container; one created after stop() began is removed at once. */
  async adoptContainer(id: string): Promise<void> {
    this.containers.push(id);
    if (this.stopping) {
      await removeContainers([id]).catch(() => {});
      this.checkNotStopping();
    }
  }
}

async function environmentCa(opts: EnvironmentOptions<Services>): Promise<CertificateAuthority> {
  if (opts.ca) return await loadCaNamed(opts.ca.certPem, opts.ca.keyPem, { cert: "startEnvironment: ca.certPem", key: "startEnvironment: ca.keyPem" });
  return (await caFromEnv()) ?? (await generateCa({ commonName: "k3sbox environment CA" }));
}

/** Container command as Docker entrypoint + args. */
function commandOf(def: AnyDefinition, key: string, hosts: string[]): { entrypoint?: string; command?: string[] } {
  if (def.command === undefined) return {};
  if (typeof def.command === "string") return { entrypoint: "/bin/sh", command: ["-c", expandServiceToken(def.command, key, hosts)] };
  const [entrypoint, ...rest] = def.command.map((c) => expandServiceToken(c, key, hosts));
  return { entrypoint, command: rest };
}

/** How long the published ports may take to accept a connection before the start fails as unreachable. */
const REACH_WINDOW_MS = 2_000;

const PHASE_LABELS: Record<string, string> = {
  preflight: "checking Docker, images and the CA",
  network: "creating the network",
  containers: "creating and starting containers",
  reach: "checking this process reaches the published ports",
  ready: "waiting for readiness",
  helpers: "connecting helpers",
  setup: "running setup",
  peers: "registering peers",
};

const ATTACHED_HOST: PreflightResult = { dockerVersion: "", dockerHubMirrors: [], privileges: {} };

/** Where this process reaches a started container, per the topology. */
function endpointOf(topology: Topology, info: ContainerInfo, network: string): { host: string; ports: Record<number, number> } {
  if (topology.mode === "network") {
    const ports: Record<number, number> = {};
    for (const p of Object.keys(info.ports)) ports[Number(p)] = Number(p);
    return { host: info.networks[network]?.ip ?? "", ports };
  }
  return { host: topology.dialHost, ports: info.bindings[topology.publishHost] ?? info.ports };
}

/** A published port Docker could not bind: the topology's address is not the daemon host's. */
function publishRefused(err: unknown, topology: Topology, key: string): Error {
  if (!(err instanceof DockerError) || !/cannot assign requested address|address not available|bind/i.test(err.stderr)) return err as Error;
  return new TopologyError(
    `service "${key}": Docker cannot publish ports on ${topology.publishHost} of the daemon's host (${err.message.split("\n")[0]}).\n` +
      `Topology: ${topology.kind} — ${topology.reason}.\nTo change it: ${topology.hint}.`,
  );
}

/**
 * Starts the services. Beside the start it removes environments whose owner
 * process is provably dead (sweep.ts; one progress line names them;
 * K3SBOX_SWEEP=0 turns it off).
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s() } });
 * await using ns = await env.svc.k8s.namespace("shop");
 * await ns.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { color: "blue" } });
 * const cm = await env.svc.k8s.client.core.readNamespacedConfigMap({ name: "settings", namespace: ns.name });
 * console.log(cm.data?.color); // "blue"
 * ```
 */
export async function startEnvironment<S extends Services>(opts: EnvironmentOptions<S>): Promise<Environment<S>> {
  validateEnvironmentOptions(opts);
  checkEnvFlags(); // K3SBOX_REUSE, K3SBOX_REAPER, K3SBOX_SWEEP: a value that is neither on nor off fails here, before anything exists
  const sweep = sweepDeadEnvironments(opts.onProgress);
  try {
    return await start(opts);
  } finally {
    // Usually long done: it ran beside the start. Bounded, so a slow daemon cannot hold the start.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([sweep, new Promise((r) => (timer = setTimeout(r, SWEEP_WAIT_MS)))]);
    clearTimeout(timer);
  }
}

async function start<S extends Services>(opts: EnvironmentOptions<S>): Promise<Environment<S>> {
  const services = opts.services;
  const keys = Object.keys(services) as (keyof S & string)[];
  const progress = opts.onProgress ?? (() => {});
  const timings: Record<string, number> = {};
  const recorder = new Recorder();
  const reuse = reuseRequested(opts.reuse) ? await reusableFor(services, keys, opts.ca?.certPem) : undefined;
  const attach = reuse?.found;
  const envId = attach?.envId ?? newEnvironmentId();
  // A reuse environment is detached: prune, signals and the crash watchdog leave it.
  const labels = { ...environmentLabels(envId, opts.detached === true || reuse !== undefined), ...(reuse ? { [LABEL_REUSE]: reuse.key } : {}) };
  const res = new Resources(envId);
  if (reuse && !attach) res.dir = environmentDir(envId); // holds its CA: removed if this start fails
  trackEnvironment(res);
  ensureReaper();
  /** Runs one start phase: announces it, times it into `timings`. */
  let currentPhase = "";
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    currentPhase = name;
    progress(PHASE_LABELS[name] ?? name);
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };

  try {
    const [ca, host, topology] = await phase("preflight", () =>
      Promise.all([
        reuse ? reuseCa(envId, attach !== undefined, () => environmentCa(opts)) : environmentCa(opts),
        // Attaching creates nothing: its containers already run, so images and privileges were checked.
        attach ? ATTACHED_HOST : preflight(services, progress),
        detectTopology(opts.host),
      ]));
    const reachHosts = topology.tlsSans.length ? topology.tlsSans : ["127.0.0.1"];
    if (topology.processContainer && !attach) {
      // This process's pid means something only in its container: label the owner container too (prune, down, watchdog).
      (labels as Record<string, string>)[LABEL_OWNER_CONTAINER] = topology.processContainer;
      ensureContainerWatchdog(topology.processContainer);
    }
    const hostFacts: HostFacts = { dockerHubMirrors: host.dockerHubMirrors };

    if (!attach) res.network = networkName(envId); // set first: a stop racing the create still removes it
    const networkLabels = topology.ownContainer ? { ...labels, [LABEL_JOINED]: topology.ownContainer } : labels;
    let hostAddress: HostAddressDecision = { ok: false, reason: "not decided" };
    await phase("network", async () => {
      if (!attach) await res.creating(createNetwork(res.network!, networkLabels));
      const net = attach ? networkName(envId) : res.network!;
      if (topology.mode === "network" && topology.ownContainer) {
        res.joined = topology.ownContainer;
        await joinNetwork(net, topology.ownContainer);
      }
      hostAddress = await hostAddressFor(topology, net, opts.hostAddress);
    });
    res.checkNotStopping();

    const running = {} as Record<keyof S & string, RunningService>;
    const exits = {} as Record<string, WaitHandle>;
    /** What each service's `prepare` handed its container: its companions get the same. */
    const preparedOf = new Map<string, PreparedContainer>();
    const filesOf = new Map<string, ServiceFile[]>();
    await phase("containers", () =>
      Promise.all(keys.map(async (key) => {
        const def = services[key];
        const name = containerName(envId, key);
        res.checkNotStopping();
        if (attach) {
          const id = attach.containers[key];
          const exit = waitExit(id);
          res.waits.push(exit);
          exits[key] = exit;
          const info = await inspectContainer(id);
          const at = endpointOf(topology, info, networkName(envId));
          running[key] = { key, containerId: id, containerName: name, ip: info.networks[networkName(envId)]?.ip ?? "", ...at, daemonPorts: info.bindings["127.0.0.1"] ?? {} };
          return;
        }
        const prepared = def.prepare
          ? await runHook(key, "prepare", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.prepare!({ name: key, image: def.image.reference, progress, signal }))
          : {};
        preparedOf.set(key, prepared);
        res.checkNotStopping();
        const id = await res.creating(createContainer({
          name,
          image: def.image.reference,
          network: res.network,
          aliases: [key, `${key}.internal`],
          labels: { ...labels, [LABEL_SERVICE]: key },
          env: def.env,
          tmpfs: def.tmpfs,
          privilege: Object.hasOwn(host.privileges, key) ? host.privileges[key] : undefined, // own keys: "constructor" is a valid service key
          cgroupns: def.cgroupns,
          publish: def.ports,
          mounts: prepared.mounts,
          publishHost: topology.mode === "published" ? topology.publishHost : undefined,
          addHosts: [addHostEntry(hostAddress)].filter((h): h is string => h !== undefined),
          ...commandOf(def, key, reachHosts),
        }));
        await res.adoptContainer(id);
        for (const net of prepared.networks ?? []) await connectNetwork(net, id);
        const files = typeof def.files === "function" ? def.files(hostFacts) : def.files ?? [];
        validateFiles(key, files, typeof def.files === "function" ? "files (the function's result)" : "files");
        filesOf.set(key, files);
        if (files.length > 0) {
          await copyInto(id, await archiveOf(files.map((f) => ({ path: f.path, content: expandServiceToken(f.content, key, reachHosts), mode: fileMode(f) }))));
        }
        res.checkNotStopping();
        await startContainer(id).catch((e) => Promise.reject(publishRefused(e, topology, key)));
        const exit = waitExit(id);
        res.waits.push(exit);
        exits[key] = exit;
        const info = await inspectContainer(id);
        const at = endpointOf(topology, info, res.network!);
        running[key] = { key, containerId: id, containerName: name, ip: info.networks[res.network!]?.ip ?? "", ...at, daemonPorts: info.bindings["127.0.0.1"] ?? {} };
      })));

    // ssh://: the ports are on the remote host's 127.0.0.1; one ssh forwards them here.
    if (topology.kind === "ssh" && topology.sshDestination) {
      const remote = [...new Set(keys.flatMap((key) => Object.values(running[key].daemonPorts)))];
      if (remote.length) {
        const forward = await startSshForward(topology.sshDestination, remote).catch((e: Error) => {
          throw new TopologyError(`${e.message}\nTopology: ${topology.kind} — ${topology.reason}.\nTo change it: ${topology.hint}.`);
        });
        res.disposers.push(() => forward.stop());
        for (const key of keys) {
          running[key].ports = Object.fromEntries(Object.entries(running[key].daemonPorts).map(([cp, p]) => [cp, forward.ports[p]]));
        }
      }
    }

    // A wrong address fails here, in seconds, not as a readiness timeout.
    const reachTargets: ReachTarget[] = keys.flatMap((key) =>
      Object.entries(running[key].ports).map(([cp, p]) => ({ service: key, host: running[key].host, port: p, containerPort: Number(cp) }))
    );
    await phase("reach", () => proveReachable(topology, reachTargets, REACH_WINDOW_MS, res.abort.signal));

    const hostPort = (key: string, port: number): number => {
      // Own keys only: "toString" or "constructor" must not find Object.prototype's members.
      if (!Object.hasOwn(running, key)) throw new Error(`env.hostPort(): no service ${JSON.stringify(key)} (services: ${keys.join(", ")})`);
      if (!Number.isInteger(port) || !Object.hasOwn(running[key as keyof S & string].ports, port)) {
        throw new Error(`service "${key}" does not publish port ${String(port)} (published: ${Object.keys(running[key as keyof S & string].ports).join(", ") || "none"})`);
      }
      const p = running[key as keyof S & string]?.ports[port];
      if (p === undefined) throw new Error(`service "${key}" does not publish port ${port} (published: ${Object.keys(running[key as keyof S & string]?.ports ?? {}).join(", ") || "none"})`);
      return p;
    };

    /** `signal`: the hook's own (its deadline, or the environment stopping). */
    const contextFor = (key: string, signal: AbortSignal = res.abort.signal): HelperContext => ({
      name: key,
      container: running[key as keyof S & string].containerId,
      image: services[key].image.reference,
      hostPort: (p) => hostPort(key, p),
      host: running[key as keyof S & string].host,
      hostAddress: () => hostAddressOf(hostAddress, topology, `service "${key}": ctx.hostAddress()`),
      privileged: services[key].privileged === true,
      exec: async (argv, o) => {
        if (o?.timeoutMs !== undefined) checkTimeoutMs(o.timeoutMs, `service "${key}": ctx.exec(): option "timeoutMs"`, 10_000);
        return await execIn(running[key as keyof S & string].containerId, argv, o);
      },
      recorder,
      caPem: ca.certPem,
      issueCertificate: async (names) => {
        const leaf = await issueLeaf(ca, { names });
        return { certPem: leaf.certPem, keyPem: leaf.keyPem };
      },
      progress,
      signal,
      fault: (o) => containerFault(key, running[key as keyof S & string].containerId, res.network, o?.withinMs),
      companions: () => listCompanions(envId, key),
    });

    /** ctx.timing: a service's own durations, beside the phases. */
    const timingOf = (key: string) => (name: string, ms: number) => {
      if (typeof name === "string" && name && Number.isFinite(ms)) timings[`${key}: ${name}`] = Math.round(ms);
    };
    /** ctx.startCompanion for a service's setup and peers hooks (companions.ts). */
    const companionNames = new Map<string, Set<string>>();
    const companionStarter = (key: string) => async (spec: CompanionSpec): Promise<RunningCompanion> => {
      res.checkNotStopping();
      const taken = companionNames.get(key) ?? new Set<string>();
      companionNames.set(key, taken);
      taken.add(checkCompanionName(key, spec?.name, taken));
      const prepared = preparedOf.get(key) ?? {};
      return await startCompanion({
        envId,
        key,
        def: services[key],
        network: res.network!,
        labels,
        privilege: Object.hasOwn(host.privileges, key) ? host.privileges[key] : undefined,
        mounts: prepared.mounts,
        networks: prepared.networks,
        files: filesOf.get(key) ?? [],
        reachHosts,
        adopt: (id) => res.adoptContainer(id),
        creating: (p) => res.creating(p),
        connect: connectNetwork,
      }, spec);
    };

    // A container that exits before the start is over fails it at once, with
    // its log tail, whichever phase is running (readiness, helpers, setup).
    const died = Promise.race(keys.map((key) =>
      exits[key].exited.then(
        async (code): Promise<never> => {
          const when = currentPhase === "ready" ? "before it was ready" : `during ${currentPhase} (after it was ready)`;
          throw new ServiceNotReadyError(key, `service "${key}" exited with code ${code} ${when}\n${await describeContainer(running[key].containerId)}`);
        },
        () => new Promise<never>(() => {}), // cancelled: the start is over
      )
    ));
    died.catch(() => {});
    const unlessDied = <T>(p: Promise<T>) => Promise.race([p, died]);

    await phase("ready", () =>
      unlessDied(Promise.all(keys.map(async (key) => {
        const check = services[key].readyCheck;
        if (check) {
          const probe = services[key].readyProbe;
          await waitReady({
            service: key,
            container: running[key].containerId,
            check,
            hostPort: (p) => hostPort(key, p),
            host: running[key].host,
            exit: exits[key],
            network: res.network,
            progress,
            signal: res.abort.signal,
            probe: probe && ((signal) => probe(contextFor(key, signal))),
          });
        }
      }))));

    // From here on, a paused or disconnected container fails the start at once (hook-faults.ts).
    const hookFaults = watchHookFaults(Object.fromEntries(keys.map((k) => [k, running[k].containerId])), res.network, () => currentPhase);
    res.disposers.push(() => hookFaults.stop());
    const unlessFaulted = <T>(p: Promise<T>) => Promise.race([p, died, hookFaults.fault]);

    const svc = {} as { [K in keyof S]: HelpersOf<S[K]> };
    await phase("helpers", () =>
      unlessFaulted(Promise.all(keys.map(async (key) => {
        const def = services[key];
        const helpers = def.helpers ? await runHook(key, "helpers", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.helpers!(contextFor(key, signal))) : undefined;
        svc[key] = helpers as HelpersOf<S[typeof key]>;
        if (def.dispose && helpers !== undefined) res.disposers.push(() => runHook(key, "dispose", DISPOSE_TIMEOUT_MS, undefined, () => def.dispose!(helpers)));
      }))));

    // An attached environment was set up (and told its peers) by the run that started it.
    if (!attach) await phase("setup", () =>
      unlessFaulted(Promise.all(keys.map(async (key) => {
        res.checkNotStopping();
        const def = services[key];
        if (def.setup) await runHook(key, "setup", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.setup!({ ...contextFor(key, signal), helpers: svc[key], startCompanion: companionStarter(key), timing: timingOf(key) }));
      }))));

    if (!attach) await phase("peers", () =>
      unlessFaulted(Promise.all(keys.map(async (key) => {
        const peers: PeerAddress[] = keys.filter((k) => k !== key).map((k) => ({ key: k, host: `${k}.internal`, ip: running[k].ip }));
        const def = services[key];
        if (def.peers) await runHook(key, "peers", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.peers!({ ...contextFor(key, signal), helpers: svc[key], startCompanion: companionStarter(key), timing: timingOf(key) }, peers));
      }))));
    res.checkNotStopping(); // a stop() (e.g. Ctrl-C) during the last hooks: do not hand out a removed environment
    for (const key of keys) exits[key].cancel(); // started: exits are no longer the start's business
    hookFaults.stop();
    if (reuse) {
      res.keep = true; // from here on, stop() leaves it running for the next run
      res.disposers.push(await markAttached(envId));
      if (!attach) await markStarted(envId);
    }

    const routes = keys.map((key) => ({
      key,
      patterns: (services[key].dnsNames ?? []).map((d) => d.host),
      ports: running[key].ports,
      host: running[key].host,
    }));
    const kubeconfigs = new Map<string, Promise<string>>();

    const env: Environment<S> = {
      id: envId,
      network: res.network!,
      svc,
      services: running,
      caPem: ca.certPem,
      timings,
      fetch: createEnvFetch(routes, ca.certPem, recorder),
      hostPort,
      topology,
      get hostAddress() {
        return hostAddressOf(hostAddress, topology, "env.hostAddress");
      },
      daemonPort(key, port) {
        const p = running[key]?.daemonPorts[port];
        if (p === undefined) throw new Error(`service "${key}" does not publish port ${port} on the daemon host's 127.0.0.1`);
        return p;
      },
      kubeconfigPath(key) {
        if (res.stopping) {
          return unlessExitingOnSignal(Promise.reject(new Error(`env.kubeconfigPath("${key}"): environment ${envId} was stopped; its kubeconfigs are gone`)));
        }
        if (!kubeconfigs.has(key)) kubeconfigs.set(key, writeKubeconfig(res, key, svc[key]));
        return unlessExitingOnSignal(kubeconfigs.get(key)!);
      },
      events: () => recorder.events(),
      timeline: () => recorder.timeline(),
      diagnostics: () =>
        environmentDiagnostics(keys.map((key) => ({ key, def: services[key], helpers: svc[key], containerId: running[key].containerId })), recorder),
      stop: () => res.stop(),
      [Symbol.asyncDispose]: () => res.stop(),
      detach() {
        if (!opts.detached) throw new Error("env.detach(): start the environment with { detached: true } first");
        untrackEnvironment(res);
      },
    };
    return env;
  } catch (err) {
    const stoppedByCaller = res.stopping;
    await res.stop().catch((stopErr) => {
      (err as Error).message += `\n(and cleaning up failed: ${(stopErr as Error).message})`;
    });
    if (attach && !stoppedByCaller) {
      // The reused environment is not healthy: replace it, unless another process is using it.
      const others = await liveAttachments(envId);
      if (others.length > 0) {
        (err as Error).message += `\n(reused environment ${envId} left alone: processes ${others.join(", ")} are attached to it)`;
        throw err;
      }
      progress(`reused environment ${envId} is not healthy (${(err as Error).message.split("\n")[0]}); replacing it`);
      await removeReused(envId);
      return await start(opts);
    }
    // Interrupted by SIGINT/SIGTERM: the handler exits with 130/143; rejecting first would make it 1.
    return await unlessExitingOnSignal(Promise.reject(err));
  }
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

async function writeKubeconfig(res: Resources, key: string, helpers: unknown): Promise<string> {
  const kc = (helpers as { kubeconfig?: { exportConfig?: () => string } } | undefined)?.kubeconfig;
  if (!kc?.exportConfig) throw new Error(`service "${key}" has no kubeconfig (its helpers carry no KubeConfig)`);
  res.dir ??= environmentDir(res.envId); // 0700
  const path = join(await res.dir, `${key}.kubeconfig.yaml`);
  res.checkNotStopping(); // stop() may have removed the directory meanwhile
  // 0600: it holds the cluster-admin client key.
  await writeFile(path, kubeconfigYaml(kc.exportConfig(), `k3sbox-${res.envId}-${key}`), { mode: 0o600 }).catch((err) => {
    throw stateDirError(err, path); // ENOSPC and the like: say which file, under which directory and variable
  });
  return path;
}
