// One start of an environment as its steps (start-plan.ts) share it: what
// was settled before the first step (the id, labels, reuse), what each step
// hands the next (CA and topology, the network's host address, the running
// containers, the helpers), and the contexts the service hooks are given.

import { connectNetwork, execIn, type WaitHandle } from "../docker.ts";
import type { Topology } from "../docker/topology.ts";
import { type HostAddressDecision, hostAddressOf } from "../docker/host-address.ts";
import { type CertificateAuthority, issueLeaf } from "../pki.ts";
import { Recorder } from "../recorder.ts";
import type { CompanionSpec, HelperContext, HostFacts, PreparedContainer, RunningCompanion, ServiceFile, SetupContext } from "../service.ts";
import { checkTimeoutMs } from "../limits.ts";
import { checkCompanionName, listCompanions, startCompanion } from "./companions.ts";
import { containerFault } from "./container-fault.ts";
import type { HookFaultWatch } from "./hook-faults.ts";
import type { PreflightResult } from "./preflight.ts";
import type { Resources } from "./resources.ts";
import type { Reusable } from "./reuse.ts";
import type { EnvironmentOptions, RunningService, Services } from "./environment-options.ts";

export class StartRun {
  readonly services: Services;
  readonly keys: string[];
  readonly progress: (message: string) => void;
  /** `env.timings`: each step's milliseconds, and what services record (`ctx.timing`). */
  readonly timings: Record<string, number> = {};
  readonly recorder = new Recorder();
  /** The step running now: named when a container exits or faults during it. */
  phase = "";

  // preflight
  ca!: CertificateAuthority;
  host!: PreflightResult;
  topology!: Topology;
  /** Where this process reaches the environment ({{K3SBOX_HOSTS}}: --tls-san and the like). */
  reachHosts: string[] = [];
  hostFacts!: HostFacts;
  // network
  hostAddress: HostAddressDecision = { ok: false, reason: "not decided" };
  // containers
  readonly running: Record<string, RunningService> = {};
  readonly exits: Record<string, WaitHandle> = {};
  /** What each service's `prepare` handed its container: its companions get the same. */
  readonly preparedOf = new Map<string, PreparedContainer>();
  readonly filesOf = new Map<string, ServiceFile[]>();
  // ready, and the hooks after it
  /** Rejects when a container exits before the start is over (start-services.ts). */
  died?: Promise<never>;
  /** A paused or disconnected container, from the helpers on (hook-faults.ts). */
  hookFaults?: HookFaultWatch;
  /** Each service's helpers: `env.svc`. */
  readonly svc: Record<string, unknown> = {};
  readonly #companionNames = new Map<string, Set<string>>();

  constructor(
    readonly opts: EnvironmentOptions<Services>,
    readonly envId: string,
    /** The environment's labels (the owner container's is added at preflight). */
    readonly labels: Record<string, string>,
    readonly res: Resources,
    /** Set when reuse is on: its key, and the running environment to attach to if one was found. */
    readonly reuse?: { key: string; found?: Reusable },
  ) {
    this.services = opts.services;
    this.keys = Object.keys(opts.services);
    this.progress = opts.onProgress ?? (() => {});
  }

  /** The reused environment this start attaches to instead of creating one. */
  get attach(): Reusable | undefined {
    return this.reuse?.found;
  }

  /** `p`, unless a container exits (from ready on) or faults (from helpers on) first. */
  guarded<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, ...(this.died ? [this.died] : []), ...(this.hookFaults ? [this.hookFaults.fault] : [])]);
  }

  /** The port this process dials for a service's container port: `env.hostPort`. */
  hostPort(key: string, port: number): number {
    const running = this.running;
    // Own keys only: "toString" or "constructor" must not find Object.prototype's members.
    if (!Object.hasOwn(running, key)) throw new Error(`env.hostPort(): no service ${JSON.stringify(key)} (services: ${this.keys.join(", ")})`);
    if (!Number.isInteger(port) || !Object.hasOwn(running[key].ports, port)) {
      throw new Error(`service "${key}" does not publish port ${String(port)} (published: ${Object.keys(running[key].ports).join(", ") || "none"})`);
    }
    const p = running[key]?.ports[port];
    if (p === undefined) throw new Error(`service "${key}" does not publish port ${port} (published: ${Object.keys(running[key]?.ports ?? {}).join(", ") || "none"})`);
    return p;
  }

  /** What `readyProbe` and `helpers` get; `signal`: the hook's own (its deadline, or the environment stopping). */
  contextFor(key: string, signal: AbortSignal = this.res.abort.signal): HelperContext {
    const { running, services, res, topology } = this;
    return {
      name: key,
      container: running[key].containerId,
      image: services[key].image.reference,
      hostPort: (p) => this.hostPort(key, p),
      host: running[key].host,
      hostAddress: () => hostAddressOf(this.hostAddress, topology, `service "${key}": ctx.hostAddress()`),
      privileged: services[key].privileged === true,
      exec: async (argv, o) => {
        if (o?.timeoutMs !== undefined) checkTimeoutMs(o.timeoutMs, `service "${key}": ctx.exec(): option "timeoutMs"`, 10_000);
        return await execIn(running[key].containerId, argv, o);
      },
      recorder: this.recorder,
      caPem: this.ca.certPem,
      issueCertificate: async (names) => {
        const leaf = await issueLeaf(this.ca, { names });
        return { certPem: leaf.certPem, keyPem: leaf.keyPem };
      },
      progress: this.progress,
      signal,
      fault: (o) => containerFault(key, running[key].containerId, res.network, o?.withinMs),
      companions: () => listCompanions(this.envId, key),
    };
  }

  /** What `setup` and `peers` get: the helper context, the helpers, companions and timings. */
  setupContextFor(key: string, signal: AbortSignal): SetupContext<unknown> {
    return { ...this.contextFor(key, signal), helpers: this.svc[key], startCompanion: this.#companionStarter(key), timing: this.#timingOf(key) };
  }

  /** ctx.timing: a service's own durations, beside the phases. */
  #timingOf(key: string) {
    return (name: string, ms: number) => {
      if (typeof name === "string" && name && Number.isFinite(ms)) this.timings[`${key}: ${name}`] = Math.round(ms);
    };
  }

  /** ctx.startCompanion (companions.ts). */
  #companionStarter(key: string) {
    return async (spec: CompanionSpec): Promise<RunningCompanion> => {
      const res = this.res;
      res.checkNotStopping();
      const taken = this.#companionNames.get(key) ?? new Set<string>();
      this.#companionNames.set(key, taken);
      taken.add(checkCompanionName(key, spec?.name, taken));
      const prepared = this.preparedOf.get(key) ?? {};
      return await startCompanion({
        envId: this.envId,
        key,
        def: this.services[key],
        network: res.network!,
        labels: this.labels,
        privilege: Object.hasOwn(this.host.privileges, key) ? this.host.privileges[key] : undefined,
        mounts: prepared.mounts,
        networks: prepared.networks,
        files: this.filesOf.get(key) ?? [],
        reachHosts: this.reachHosts,
        adopt: (id) => res.adoptContainer(id),
        creating: (p) => res.creating(p),
        connect: connectNetwork,
      }, spec);
    };
  }
}
