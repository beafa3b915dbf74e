// startEnvironment: runs a set of ServiceDefinitions in Docker and hands
// back their helpers, a routed fetch, kubeconfigs and a timeline. Anything it
// created is removed by stop() / `await using`, by a failed start, and on
// SIGINT/SIGTERM. The start itself is a plan of named steps (start-plan.ts);
// this module decides create or attach, runs the plan, and hands out the
// environment — or cleans up, and replaces a reused environment that failed.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Topology } from "../docker/topology.ts";
import { hostAddressOf } from "../docker/host-address.ts";
import type { RecordedEvent } from "../recorder.ts";
import type { HelpersOf } from "../service.ts";
import { environmentLabels, newEnvironmentId } from "./labels.ts";
import { ensureReaper } from "./reaper.ts";
import { environmentDiagnostics } from "./diagnostics.ts";
import { checkEnvFlags } from "./env-flags.ts";
import { SWEEP_WAIT_MS, sweepDeadEnvironments } from "./sweep.ts";
import { LABEL_REUSE, liveAttachments, markAttached, markStarted, removeReused, reusableFor, reuseRequested } from "./reuse.ts";
import { createEnvFetch, type EnvFetch } from "./routing.ts";
import { trackEnvironment, unlessExitingOnSignal, untrackEnvironment } from "./signals.ts";
import { kubeconfigYaml } from "./kubeconfig-file.ts";
import { environmentDir, stateDirError } from "./state-dir.ts";
import { validateEnvironmentOptions } from "./validate.ts";
import { Resources } from "./resources.ts";
import { StartRun } from "./start-run.ts";
import { runSteps, startPlan } from "./start-plan.ts";
import type { AnyDefinition, EnvironmentOptions, RunningService, Services } from "./environment-options.ts";

export type { EnvironmentOptions, RunningService } from "./environment-options.ts";

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
  const keys = Object.keys(opts.services);
  const reuse = reuseRequested(opts.reuse) ? await reusableFor(opts.services, keys, opts.ca?.certPem) : undefined;
  const attach = reuse?.found;
  const envId = attach?.envId ?? newEnvironmentId();
  // A reuse environment is detached: prune, signals and the crash watchdog leave it.
  const labels = { ...environmentLabels(envId, opts.detached === true || reuse !== undefined), ...(reuse ? { [LABEL_REUSE]: reuse.key } : {}) };
  const res = new Resources(envId);
  if (reuse && !attach) res.dir = environmentDir(envId); // holds its CA: removed if this start fails
  trackEnvironment(res);
  ensureReaper();
  const run = new StartRun(opts, envId, labels, res, reuse);

  try {
    await runSteps(run, startPlan(attach !== undefined));
    res.checkNotStopping(); // a stop() (e.g. Ctrl-C) during the last hooks: do not hand out a removed environment
    for (const key of keys) run.exits[key].cancel(); // started: exits are no longer the start's business
    run.hookFaults?.stop();
    if (reuse) {
      res.keep = true; // from here on, stop() leaves it running for the next run
      res.disposers.push(await markAttached(envId));
      if (!attach) await markStarted(envId);
    }
    return environmentOf(run, opts);
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
      run.progress(`reused environment ${envId} is not healthy (${(err as Error).message.split("\n")[0]}); replacing it`);
      await removeReused(envId);
      return await start(opts);
    }
    // Interrupted by SIGINT/SIGTERM: the handler exits with 130/143; rejecting first would make it 1.
    return await unlessExitingOnSignal(Promise.reject(err));
  }
}

/** The started environment handed to the caller. */
function environmentOf<S extends Services>(run: StartRun, opts: EnvironmentOptions<S>): Environment<S> {
  const { envId, res, keys, services, running, svc, recorder, ca, topology } = run;
  const routes = keys.map((key) => ({
    key,
    patterns: (services[key].dnsNames ?? []).map((d) => d.host),
    ports: running[key].ports,
    host: running[key].host,
  }));
  const kubeconfigs = new Map<string, Promise<string>>();
  return {
    id: envId,
    network: res.network!,
    svc: svc as { [K in keyof S]: HelpersOf<S[K]> },
    services: running as Record<keyof S & string, RunningService>,
    caPem: ca.certPem,
    timings: run.timings,
    fetch: createEnvFetch(routes, ca.certPem, recorder),
    hostPort: (key, port) => run.hostPort(key, port),
    topology,
    get hostAddress() {
      return hostAddressOf(run.hostAddress, topology, "env.hostAddress");
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
      if (!kubeconfigs.has(key)) kubeconfigs.set(key, writeKubeconfig(res, key, services[key], svc[key]));
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
}

/** Writes what the service's `exportKubeconfig` hook gives (as YAML, names unique to the environment) to a 0600 file. */
async function writeKubeconfig(res: Resources, key: string, def: AnyDefinition | undefined, helpers: unknown): Promise<string> {
  if (!def?.exportKubeconfig) throw new Error(`service "${key}" has no kubeconfig (its definition has no exportKubeconfig hook)`);
  const exported = def.exportKubeconfig(helpers);
  res.dir ??= environmentDir(res.envId); // 0700
  const path = join(await res.dir, `${key}.kubeconfig.yaml`);
  res.checkNotStopping(); // stop() may have removed the directory meanwhile
  // 0600: it holds the cluster-admin client key.
  await writeFile(path, kubeconfigYaml(exported, `k3sbox-${res.envId}-${key}`), { mode: 0o600 }).catch((err) => {
    throw stateDirError(err, path); // ENOSPC and the like: say which file, under which directory and variable
  });
  return path;
}
