// Where this process reaches the containers it starts: decided once per
// daemon (and per override), from the Docker endpoint, the active context,
// K3SBOX_HOST / startEnvironment({ host }) and facts about the container this
// process may itself run in. Every consumer uses the one decision: readiness,
// env.fetch, env.hostPort, the kubeconfig's server and the API certificate's
// --tls-san, kubeconfigPath, `k3sbox up`, `k3sbox doctor`.
//
// `decideTopology` is pure (tested without Docker); `detectTopology` gathers
// its inputs (environment, ~/.docker files, /proc/self/mountinfo, at most one
// `docker inspect` of this process's own container) and caches the result.

import { lookup } from "node:dns/promises";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { connect, isIP } from "node:net";
import process from "node:process";
import { validateName } from "./args.ts";
import { DockerError, dockerResult } from "./cli.ts";
import { isDnsName } from "../names.ts";

export type TopologyKind = "local" | "tcp" | "ssh" | "container" | "override";

/**
 * How published ports are reached. `published`: Docker publishes each
 * container port on `publishHost` of the daemon's host and this process
 * dials `dialHost`:<host port>. `network`: this process's own container is
 * connected to the environment's network and dials each container's address
 * there at the container port (nothing is published for it).
 */
export interface Topology {
  kind: TopologyKind;
  mode: "published" | "network";
  /** Where this process connects (published mode); also the kubeconfig's server host. */
  dialHost: string;
  /** Host address Docker binds published ports to, on the daemon's host. */
  publishHost: string;
  /** Names and addresses to add to server certificates (k3s --tls-san). */
  tlsSans: string[];
  /** One sentence: why this is the decision. */
  reason: string;
  /** The Docker endpoint the decision is about (`unix:///var/run/docker.sock`, `tcp://10.0.0.2:2376`, …). */
  endpoint: string;
  /** Network mode: this process's container, to connect to each environment's network. */
  ownContainer?: string;
  /** ssh:// daemons: the ssh destination ports must be forwarded through. */
  sshDestination?: string;
  /** What to set to change the decision (for error messages and `k3sbox doctor`). */
  hint: string;
  /**
   * The daemon's container this process runs in, whatever the mode: its
   * environments are labelled with it (LABEL_OWNER_CONTAINER), since this
   * process's pid means nothing in other PID namespaces.
   */
  processContainer?: string;
}

/** The container this process runs in, as the daemon describes it (confirmed by `docker inspect`). */
export interface OwnContainer {
  id: string;
  name: string;
  /** `host` when it shares the daemon host's network namespace. */
  networkMode: string;
  /** Network name → this container's address and gateway on it. */
  networks: Record<string, { ip: string; gateway: string }>;
}

export interface TopologyInputs {
  /** DOCKER_HOST as set (empty/undefined: not set). */
  dockerHost?: string;
  /** The active Docker context, when DOCKER_HOST is not set and it is not "default". */
  context?: { name: string; endpoint: string };
  /** K3SBOX_HOST or startEnvironment({ host }): overrides everything. */
  override?: { dial: string; publish?: string; source: string };
  /** This process's container on the daemon, when it runs in one the daemon knows. */
  ownContainer?: OwnContainer;
  /** Why the process is thought to run in a container although the daemon does not know it (e.g. /.dockerenv). */
  containerHint?: string;
  /** Addresses the tcp:// (or override) host name resolved to. */
  resolved?: Record<string, string[]>;
}

/** The topology cannot be decided, or an input is malformed; says what to set. */
export class TopologyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TopologyError";
  }
}

/** A host this module hands to Docker, certificates and a shell: an IP address or a DNS name, nothing else. */
export function validHost(host: string): boolean {
  return typeof host === "string" && (isIP(host) !== 0 || isDnsName(host.toLowerCase()));
}

const isLoopback = (h: string) => h === "localhost" || /^127\./.test(h) || h === "::1";

/** `tcp://h:p`, `ssh://u@h:p`, `unix:///p`, `npipe://…` → scheme and host. */
export function parseEndpoint(endpoint: string): { scheme: string; host: string; port?: string; user?: string } {
  const m = /^([a-z]+):\/\/(.*)$/.exec(endpoint.trim());
  if (!m) throw new TopologyError(`Docker endpoint ${JSON.stringify(endpoint)} is not a URL (expected unix:///…, tcp://host:port or ssh://user@host)`);
  const [, scheme, rest] = m;
  if (scheme === "unix" || scheme === "npipe" || scheme === "fd") return { scheme, host: "" };
  const hostPort = rest.replace(/\/.*$/, "");
  const at = hostPort.lastIndexOf("@");
  const user = at >= 0 ? hostPort.slice(0, at) : undefined;
  const hp = at >= 0 ? hostPort.slice(at + 1) : hostPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hp);
  const host = v6 ? v6[1] : hp.replace(/:\d+$/, "");
  const port = v6 ? v6[2] : /:(\d+)$/.exec(hp)?.[1];
  if (!validHost(host)) throw new TopologyError(`Docker endpoint ${JSON.stringify(endpoint)}: ${JSON.stringify(host)} is not a host name or IP address`);
  return { scheme, host, port, user };
}

const HINT = "set K3SBOX_HOST (or startEnvironment({ host })) to an address of the Docker daemon's host that this process can reach";

/**
 * The decision, from its inputs only. Order: an override; an ssh:// or
 * tcp:// endpoint (DOCKER_HOST, else the active context); a process in a
 * container of this daemon (its own network namespace); the local daemon.
 */
export function decideTopology(inputs: TopologyInputs): Topology {
  const t = decide(inputs);
  return inputs.ownContainer ? { ...t, processContainer: inputs.ownContainer.id } : t;
}

function decide(inputs: TopologyInputs): Topology {
  const fromContext = !inputs.dockerHost && inputs.context;
  const endpoint = inputs.dockerHost || inputs.context?.endpoint || "unix:///var/run/docker.sock";
  const endpointSource = inputs.dockerHost ? "DOCKER_HOST" : fromContext ? `the active Docker context "${inputs.context!.name}"` : "the default socket";
  const parsed = parseEndpoint(endpoint);
  const addressOf = (host: string, what: string): string => {
    if (isIP(host)) return host;
    if (host === "localhost") return "127.0.0.1";
    const ips = (inputs.resolved?.[host] ?? []).filter((a) => isIP(a) === 4).concat((inputs.resolved?.[host] ?? []).filter((a) => isIP(a) === 6));
    if (ips.length === 0) throw new TopologyError(`${what}: host ${host} does not resolve to an address; ${HINT}`);
    return ips[0];
  };

  if (inputs.override) {
    const { dial, publish, source } = inputs.override;
    if (!validHost(dial)) throw new TopologyError(`${source}: ${JSON.stringify(dial)} is not a host name or IP address (e.g. 192.168.1.10 or docker.example)`);
    if (publish !== undefined && !validHost(publish)) throw new TopologyError(`${source} (publish): ${JSON.stringify(publish)} is not a host name or IP address`);
    const publishHost = addressOf(publish ?? dial, source);
    return {
      kind: "override", mode: "published", dialHost: dial, publishHost, endpoint,
      tlsSans: [...new Set([dial, publishHost])],
      reason: `${source} says to reach the containers at ${dial}; ports are published on ${publishHost} of the daemon's host`,
      hint: `unset ${source.split(" ")[0]} to let k3sbox decide`,
    };
  }

  if (parsed.scheme === "ssh") {
    const dest = `${parsed.user ? `${parsed.user}@` : ""}${parsed.host}${parsed.port ? `:${parsed.port}` : ""}`;
    return {
      kind: "ssh", mode: "published", dialHost: "127.0.0.1", publishHost: "127.0.0.1", endpoint, sshDestination: dest,
      tlsSans: ["127.0.0.1"],
      reason: `${endpointSource} is ${endpoint}: ports are published on the remote host's loopback only and forwarded through ssh (${dest}) to 127.0.0.1 here`,
      hint: `make \`ssh ${dest}\` work without prompts (keys, known hosts: BatchMode), or ${HINT} (ports are then published on that address)`,
    };
  }

  if ((parsed.scheme === "tcp" || parsed.scheme === "http" || parsed.scheme === "https") && !isLoopback(parsed.host)) {
    const publishHost = addressOf(parsed.host, endpointSource);
    return {
      kind: "tcp", mode: "published", dialHost: parsed.host, publishHost, endpoint,
      tlsSans: [...new Set([parsed.host, publishHost])],
      reason: `${endpointSource} is ${endpoint}: the daemon runs on ${parsed.host}, so ports are published on ${publishHost} there (no wider) and dialled at ${parsed.host}`,
      hint: HINT,
    };
  }

  const own = inputs.ownContainer;
  if (own && own.networkMode !== "host") {
    return {
      kind: "container", mode: "network", dialHost: "", publishHost: "127.0.0.1", endpoint, ownContainer: own.id,
      tlsSans: [],
      reason: `this process runs in container ${own.name} (${own.id.slice(0, 12)}) of the daemon at ${endpoint}, in its own network namespace: ` +
        `it joins each environment's network and dials the containers there; nothing is published beyond the daemon host's 127.0.0.1`,
      hint: HINT,
    };
  }

  const where = own ? `this process runs in container ${own.name} with the host's network` : "this process shares the daemon host's loopback";
  const doubt = !own && inputs.containerHint ? ` (${inputs.containerHint}, but the daemon knows no such container, so it is taken to be the daemon's host)` : "";
  return {
    kind: "local", mode: "published", dialHost: "127.0.0.1", publishHost: "127.0.0.1", endpoint,
    tlsSans: ["127.0.0.1"],
    reason: `${endpointSource} is ${endpoint} and ${where}${doubt}: ports are published on 127.0.0.1 only`,
    hint: HINT,
  };
}

// ---------------------------------------------------------------------------
// Gathering the inputs

/** The active context's endpoint from the CLI's config files (no `docker` spawn). */
export async function activeContext(env: Record<string, string | undefined> = process.env): Promise<{ name: string; endpoint: string } | undefined> {
  const configDir = env.DOCKER_CONFIG || join(env.HOME || homedir(), ".docker");
  let name = env.DOCKER_CONTEXT;
  if (!name) {
    const config = await readFile(join(configDir, "config.json"), "utf8").then((t) => JSON.parse(t), () => undefined);
    name = config?.currentContext;
  }
  if (!name || name === "default") return undefined;
  const metaPath = join(configDir, "contexts", "meta", createHash("sha256").update(name).digest("hex"), "meta.json");
  const meta = await readFile(metaPath, "utf8").then((t) => JSON.parse(t), () => undefined);
  const endpoint = meta?.Endpoints?.docker?.Host;
  if (typeof endpoint !== "string") {
    throw new TopologyError(`the active Docker context "${name}" (${env.DOCKER_CONTEXT ? "DOCKER_CONTEXT" : "docker context use"}) has no docker endpoint in ${metaPath}; run \`docker context ls\``);
  }
  return { name, endpoint };
}

const OWN_FILES = new Set(["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/.containerenv"]);
const CONTAINER_ID = /\/(?:docker\/containers|containers|overlay-containers)\/([0-9a-f]{64})\//;

/**
 * A container id this process may run in, from its mounts: Docker bind-mounts
 * /var/lib/docker/containers/<id>/{hostname,hosts,resolv.conf}, Podman
 * …/overlay-containers/<id>/userdata/…; else from cgroup v1 paths
 * (`/docker/<id>`). Not /.dockerenv: Podman makes none, and some VMs have one.
 */
export function ownContainerCandidates(mountinfo: string, cgroup: string): string[] {
  const ids = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    // Only the files the engine binds into the container itself: on a Docker
    // host, the host's own mount table lists every container's
    // /var/lib/docker/containers/<id>/mounts/shm, which says nothing.
    const [, , , root, mountPoint] = line.split(" ");
    if (!OWN_FILES.has(mountPoint)) continue;
    const m = CONTAINER_ID.exec(root ?? "");
    if (m) ids.add(m[1]);
  }
  for (const line of cgroup.split("\n")) {
    const m = /(?:docker[-/]|libpod[-/])([0-9a-f]{64})/.exec(line);
    if (m) ids.add(m[1]);
  }
  return [...ids];
}

async function inspectOwn(id: string, dockerEnv?: Record<string, string>): Promise<OwnContainer | undefined> {
  const r = await dockerResult(["inspect", "--type", "container", "--format", "{{json .}}", id], { timeoutMs: 10_000, env: dockerEnv });
  if (r.code !== 0) return undefined;
  // deno-lint-ignore no-explicit-any
  const c: any = JSON.parse(r.stdout);
  const networks: OwnContainer["networks"] = {};
  // deno-lint-ignore no-explicit-any
  for (const [n, v] of Object.entries<any>(c.NetworkSettings?.Networks ?? {})) networks[n] = { ip: v.IPAddress ?? "", gateway: v.Gateway ?? "" };
  return { id: c.Id, name: String(c.Name ?? "").replace(/^\//, ""), networkMode: String(c.HostConfig?.NetworkMode ?? ""), networks };
}

/** The container of the daemon this process runs in, if any (from its mounts, confirmed by `docker inspect`). */
async function findOwnContainer(dockerEnv?: Record<string, string>): Promise<OwnContainer | undefined> {
  const [mountinfo, cgroup] = await Promise.all([
    readFile("/proc/self/mountinfo", "utf8").catch(() => ""),
    readFile("/proc/self/cgroup", "utf8").catch(() => ""),
  ]);
  for (const id of ownContainerCandidates(mountinfo, cgroup)) {
    const own = await inspectOwn(id, dockerEnv);
    if (own) return own;
  }
  return undefined;
}

/** K3SBOX_HOST: `dial` or `dial,publish` (publish: the daemon-side address to bind, when it differs). */
export function parseHostOverride(value: string, source: string): { dial: string; publish?: string; source: string } {
  const [dial, publish, ...rest] = value.split(",").map((s) => s.trim());
  if (rest.length || !dial) throw new TopologyError(`${source}: expected a host, or "dial-host,publish-address"; got ${JSON.stringify(value)}`);
  return { dial, publish: publish || undefined, source };
}

/** Gathers the decision's inputs; `hostOption` is startEnvironment({ host }). */
export async function gatherTopologyInputs(hostOption?: string, env: Record<string, string | undefined> = process.env): Promise<TopologyInputs> {
  const inputs: TopologyInputs = {};
  if (hostOption !== undefined) inputs.override = parseHostOverride(hostOption, "startEnvironment({ host })");
  else if (env.K3SBOX_HOST) inputs.override = parseHostOverride(env.K3SBOX_HOST, "K3SBOX_HOST");
  if (env.DOCKER_HOST) inputs.dockerHost = env.DOCKER_HOST;
  else inputs.context = await activeContext(env);
  const endpoint = inputs.dockerHost || inputs.context?.endpoint || "unix:///var/run/docker.sock";
  const parsed = parseEndpoint(endpoint);
  const names = [parsed.host, inputs.override?.publish ?? inputs.override?.dial].filter((h): h is string => !!h && !isIP(h) && h !== "localhost");
  if (names.length) {
    inputs.resolved = {};
    for (const n of new Set(names)) inputs.resolved[n] = await lookup(n, { all: true }).then((as) => as.map((a) => a.address), () => []);
  }
  // A process in a container matters only for a daemon on this machine's socket.
  if (parsed.scheme === "unix" || isLoopback(parsed.host)) {
    const dockerEnv = inputs.context && !inputs.dockerHost ? { DOCKER_HOST: inputs.context.endpoint } : undefined;
    inputs.ownContainer = await findOwnContainer(dockerEnv);
    if (!inputs.ownContainer) {
      const marker = await readFile("/.dockerenv").then(() => "/.dockerenv exists", () => readFile("/run/.containerenv").then(() => "/run/.containerenv exists", () => ""));
      if (marker) inputs.containerHint = marker;
    }
  }
  return inputs;
}

const cache = new Map<string, Promise<Topology>>();

/** The topology for this process and `hostOption` (cached per DOCKER_HOST/context/override). */
export function detectTopology(hostOption?: string): Promise<Topology> {
  const key = JSON.stringify([hostOption ?? null, process.env.K3SBOX_HOST ?? "", process.env.DOCKER_HOST ?? "", process.env.DOCKER_CONTEXT ?? "", process.env.DOCKER_CONFIG ?? ""]);
  let p = cache.get(key);
  if (!p) {
    p = gatherTopologyInputs(hostOption).then(decideTopology);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

// ---------------------------------------------------------------------------
// Network mode: this process's container on an environment's network

/** Label on an environment's network that names the container joined to it (removed from it before the network). */
export const LABEL_JOINED = "k3sbox.joined";

/** Connects `container` (this process's own) to `network`. */
export async function joinNetwork(network: string, container: string): Promise<void> {
  const r = await dockerResult(["network", "connect", validateName(network, "network name"), validateName(container, "container")], { timeoutMs: 30_000 });
  if (r.code !== 0 && !/already exists|already attached/i.test(r.stderr)) {
    throw new TopologyError(`cannot connect this process's container ${container.slice(0, 12)} to the environment's network ${network}: ${r.stderr.trim()}`);
  }
}

/** Disconnects `container` from `network`; a container or network already gone is fine. */
export async function leaveNetwork(network: string, container: string): Promise<void> {
  const r = await dockerResult(["network", "disconnect", "--force", validateName(network, "network name"), validateName(container, "container")], { timeoutMs: 30_000 });
  if (r.code !== 0 && !/no such|not found|is not connected/i.test(r.stderr)) {
    throw new DockerError(["network", "disconnect", network, container], r.code, r.stderr, r.timedOut);
  }
}

// ---------------------------------------------------------------------------
// Reachability

export type ConnectOutcome = "open" | "refused" | "unreachable";


/** One TCP connect, ended by `timeoutMs`. */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<{ outcome: ConnectOutcome; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (outcome: ConnectOutcome, detail: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, detail });
    };
    const timer = setTimeout(() => done("unreachable", `no answer within ${timeoutMs} ms (timed out)`), timeoutMs);
    socket.once("connect", () => done("open", "connected"));
    socket.once("error", (e: Error & { code?: string }) =>
      done(e.code === "ECONNREFUSED" ? "refused" : "unreachable", `${e.code ?? "error"}: ${e.message}`)
    );
  });
}
