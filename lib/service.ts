// The service model: a ServiceDefinition is plain data (what container to run,
// how to tell it is ready) plus two hooks the runner calls once it is ready:
// `helpers` (build the typed handle tests use) and then `setup`.

import type { VolumeMount } from "./docker/volumes.ts";
import type { Recorder } from "./recorder.ts";

/**
 * Placeholder for "this service's own key in the `services` map", which a
 * component cannot know when it is defined. The runner replaces it with the
 * key (in `dnsName` declarations and in file contents as `{{SERVICE}}`).
 *
 * @example
 * ```ts
 * import { dnsName, SELF_SERVICE_TOKEN } from "k3sbox";
 *
 * // In a reusable component: "api.test" goes to whichever key the user starts this service under.
 * const route = dnsName("api.test", { service: SELF_SERVICE_TOKEN });
 * ```
 */
export const SELF_SERVICE_TOKEN = "{{SERVICE}}";

/**
 * Placeholder for the names and addresses this process reaches the
 * environment at (docker/topology.ts), comma-separated, e.g. `127.0.0.1` or
 * `192.168.1.10,dind.example`: for server certificates (`--tls-san=…`). The
 * runner replaces it in the command and in file contents; the values are IP
 * addresses and DNS names only, so they are safe in a shell word.
 */
export const REACH_HOSTS_TOKEN = "{{K3SBOX_HOSTS}}";

/**
 * A file written into the container before it starts.
 *
 * @example
 * ```ts
 * import type { ServiceFile } from "k3sbox";
 *
 * const config: ServiceFile = { path: "/etc/app/config.json", content: JSON.stringify({ peer: "{{SERVICE}}.internal" }) };
 * ```
 */
export interface ServiceFile {
  /** Absolute path inside the container. */
  path: string;
  /** File content; `{{SERVICE}}` is replaced by the service's key. */
  content: string;
  /** Octal mode. Default 0644, or 0600 when the content holds a private key. */
  mode?: number;
}

/** Facts about the Docker host a definition may need to shape its files. */
export interface HostFacts {
  /** The Docker daemon's `registry-mirrors` (they mirror Docker Hub). */
  dockerHubMirrors: string[];
}

/** Image to run: a reference that is pulled when it is not present locally. */
export interface ImageSource {
  type: "registry";
  reference: string;
}

/** Ready when a command inside the container exits 0. */
export interface ExecReadyCheck {
  type: "exec";
  /** Run with `/bin/sh -c` inside the container. */
  command: string;
  timeoutSecs: number;
}

/** Ready when an HTTP(S) GET on a container port answers with `status` (default 2xx). */
export interface HttpReadyCheck {
  type: "http";
  port: number;
  path?: string;
  /** Default "http". For "https" the certificate is not trusted blindly: set `ca`. */
  scheme?: "http" | "https";
  /** PEM CA bundle used to verify an https check. */
  ca?: string;
  status?: number;
  timeoutSecs: number;
}

/**
 * How the runner tells a started container is ready: a command inside it
 * that exits 0 (`exec`), or an HTTP(S) GET on a container port (`http`),
 * tried until `timeoutSecs`.
 *
 * @example
 * ```ts
 * import type { ReadyCheck } from "k3sbox";
 *
 * const http: ReadyCheck = { type: "http", port: 8080, path: "/healthz", timeoutSecs: 30 };
 * const exec: ReadyCheck = { type: "exec", command: "redis-cli ping | grep -q PONG", timeoutSecs: 30 };
 * ```
 */
export type ReadyCheck = ExecReadyCheck | HttpReadyCheck;

/** A host name this service answers for (`*.domain` wildcards allowed). */
export interface DnsNameDeclaration {
  kind: "dnsName";
  host: string;
  /** Service key that owns the name; SELF_SERVICE_TOKEN for "this one". */
  service: string;
}

/** A peer container on the environment's network, as other services see it. */
export interface PeerAddress {
  key: string;
  /** `<key>.internal`, the alias every service gets. */
  host: string;
  ip: string;
}

/** What the runner hands to `helpers`. */
export interface HelperContext {
  /** The service's key in the `services` map (its DNS alias is `<name>.internal`). */
  name: string;
  /** Docker id of the service's container (for `docker exec -i` streams that `exec` cannot carry). */
  container: string;
  /** The image reference the container runs. */
  image: string;
  /** Host port on 127.0.0.1 that Docker published for a container port. */
  hostPort(containerPort: number): number;
  /**
   * Where this process connects to the service (docker/topology.ts): 127.0.0.1
   * for a local daemon, the daemon's host for tcp://, the container's address
   * when this process runs in a container. Use it with `hostPort`.
   */
  host: string;
  /**
   * The address a server in this process binds to so that containers and
   * pods reach it as `host.k3sbox.internal` (docker/host-address.ts); throws
   * a HostAddressError naming the topology where there is none (remote daemons).
   */
  hostAddress?(): string;
  /** Whether the container runs privileged (`privileged: true`: --privileged or its capability fallback). */
  privileged?: boolean;
  /** Runs argv inside the container (no shell unless you pass one). */
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The environment's event log; HTTP made through it shows in the timeline. */
  recorder: Recorder;
  /** CA (PEM) of the environment, trusted by `env.fetch`. */
  caPem: string;
  /** Issues a leaf certificate from the environment's CA. */
  issueCertificate(names: string[]): Promise<{ certPem: string; keyPem: string }>;
  /** Reports progress on long waits (printed by the CLI, optional in tests). */
  progress(message: string): void;
  /** Aborted when the environment stops (e.g. a sibling service failed): long waits should give up. */
  signal: AbortSignal;
  /**
   * What is wrong with the container, with its log tail: paused, exited,
   * removed, off the environment's network, or the daemon gone; undefined
   * when it looks healthy. For error messages of requests that got no answer.
   */
  fault?(opts?: { withinMs?: number }): Promise<string | undefined>;
  /**
   * The companion containers this service started (ctx.startCompanion in
   * setup), found by their labels: also those of a reused environment.
   */
  companions?(): Promise<{ name: string; containerId: string; containerName: string }[]>;
}

/** What the runner hands to `prepare`, before the container exists. */
export interface PrepareContext {
  /** The service's key in the `services` map. */
  name: string;
  /** The image reference the container will run (the definition's `image`). */
  image: string;
  /** Reports progress on long steps (printed by the CLI, optional in tests). */
  progress(message: string): void;
  /** Aborted when the environment stops while starting. */
  signal: AbortSignal;
}

/** What `prepare` adds to the container it is about to create. */
export interface PreparedContainer {
  /** Named volumes (on the Docker daemon) to mount. */
  mounts?: VolumeMount[];
  /** Further networks to join (besides the environment's), e.g. a shared registry mirror's. */
  networks?: string[];
}

/**
 * A further container a service runs beside its own (e.g. a k3s agent
 * node). It runs like the service's container — same privilege, tmpfs,
 * cgroup namespace, the volumes and networks `prepare` handed it, and the
 * service's files (a companion's own file of the same path wins) — on the
 * environment's network, publishes no port, carries the environment's
 * labels (so stop, prune and the crash watchdog remove it) and is removed
 * with the environment.
 *
 * @example
 * ```ts
 * import type { ServiceDefinition } from "k3sbox";
 *
 * const primary: ServiceDefinition = {
 *   image: { type: "registry", reference: "redis:7" },
 *   setup: async (ctx) => {
 *     const replica = await ctx.startCompanion({ name: "replica", command: ["redis-server", "--replicaof", `${ctx.name}.internal`, "6379"] });
 *     ctx.progress(`replica at ${replica.host}`);
 *   },
 * };
 * ```
 */
export interface CompanionSpec {
  /**
   * A DNS label unique within the service (`agent-1`): the container is
   * named `k3sbox-<env>-<key>-<name>` and reached as `<key>-<name>.internal`.
   */
  name: string;
  /** Default: the service's own image. */
  image?: string;
  /** As the definition's `command`: a string runs under `/bin/sh -c`, an array is exec'd. */
  command?: string | string[];
  env?: Record<string, string>;
  /** Written before it starts (private keys and tokens: 0600). */
  files?: ServiceFile[];
}

/** A started companion container. */
export interface RunningCompanion {
  name: string;
  containerId: string;
  containerName: string;
  /** `<key>-<name>.internal`. */
  host: string;
  /** Address on the environment's network. */
  ip: string;
}

/** What the runner hands to `setup`. */
export interface SetupContext<H> extends HelperContext {
  helpers: H;
  /** Creates and starts a companion container (see CompanionSpec). */
  startCompanion(spec: CompanionSpec): Promise<RunningCompanion>;
  /** Records a duration of the service's own start in `env.timings` as `<key>: <name>` (milliseconds). */
  timing(name: string, ms: number): void;
}

/**
 * Any container as a service of an environment: what to run (image, command,
 * env, ports, files), when it is ready (`readyCheck`), and hooks the runner
 * calls once it is: `helpers` builds the handle tests get as `env.svc.<key>`,
 * then `setup`. `k3s()` returns one; write your own for anything else.
 *
 * @example
 * ```ts
 * import { dnsName, type ServiceDefinition } from "k3sbox";
 *
 * const web: ServiceDefinition<{ url: string }> = {
 *   image: { type: "registry", reference: "nginx:1.27" },
 *   ports: [80],
 *   files: [{ path: "/usr/share/nginx/html/index.html", content: "hello from {{SERVICE}}" }],
 *   readyCheck: { type: "http", port: 80, timeoutSecs: 30 },
 *   dnsNames: [dnsName("web.test", { service: "web" })], // env.fetch("http://web.test/") goes to it
 *   helpers: (ctx) => ({ url: `http://${ctx.host}:${ctx.hostPort(80)}/` }),
 * };
 * // await using env = await startEnvironment({ services: { web } }); env.svc.web.url
 * ```
 */
export interface ServiceDefinition<H = unknown> {
  image: ImageSource;
  /**
   * Container command. A string runs under `/bin/sh -c` (the image's
   * entrypoint is replaced); an array is exec'd as argv.
   */
  command?: string | string[];
  env?: Record<string, string>;
  privileged?: boolean;
  tmpfs?: string[];
  cgroupns?: "host" | "private";
  /** Container TCP ports to publish on 127.0.0.1 (host ports chosen by Docker). */
  ports?: number[];
  /** Files written before start; a function is called with facts about the Docker host. */
  files?: ServiceFile[] | ((host: HostFacts) => ServiceFile[]);
  /**
   * Runs after preflight (the image is present), before the container is
   * created; may hand it named volumes (k3s() mounts its cached node images).
   */
  prepare?: (ctx: PrepareContext) => Promise<PreparedContainer>;
  readyCheck?: ReadyCheck;
  /**
   * A cheaper, host-side test of the same condition as `readyCheck` (e.g. an
   * HTTPS request to a published port instead of a `docker exec`). `true` or
   * `false` answers the question; `undefined` means "cannot tell yet" and the
   * runner tries `readyCheck` instead. The deadline stays `readyCheck`'s.
   */
  readyProbe?: (ctx: HelperContext) => Promise<boolean | undefined>;
  /** Names routed to this service by `env.fetch` (see `dnsName`/`provides`). */
  dnsNames?: DnsNameDeclaration[];
  /** Builds the typed handle exposed as `env.svc.<key>`. */
  helpers?: (ctx: HelperContext) => Promise<H> | H;
  /** Runs once after `helpers`, before the environment is handed out. */
  setup?: (ctx: SetupContext<H>) => Promise<void>;
  /** Told the other services' addresses once all are up (e.g. for in-cluster DNS). */
  peers?: (ctx: SetupContext<H>, peers: PeerAddress[]) => Promise<void>;
  /** Releases what `helpers` holds (connections) when the environment stops. */
  dispose?: (helpers: H) => void | Promise<void>;
  /** What `env.diagnostics()` reports for this service (default: its container's state and log tail). */
  diagnostics?: (helpers: H) => Promise<string>;
  /**
   * The kubeconfig that reaches this service's Kubernetes API from this
   * process, as `KubeConfig.exportConfig()` gives it; `env.kubeconfigPath(key)`
   * writes it to a file. A service without this hook has no kubeconfig.
   */
  exportKubeconfig?: (helpers: H) => string;
  /**
   * Deadline of each of `helpers`, `setup` and `peers`, in seconds (default
   * 300): past it the start fails naming the hook, and the hook's
   * `ctx.signal` aborts. `dispose` gets 30 s, then teardown goes on.
   */
  hookTimeoutSecs?: number;
}

/** Helpers type of a definition. */
export type HelpersOf<D> = D extends ServiceDefinition<infer H> ? H : never;

/**
 * Declares that `host` (e.g. `*.example.test`) is served by `opts.service`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dnsName } from "k3sbox";
 *
 * assert.deepEqual(dnsName("*.shop.test", { service: "web" }), { kind: "dnsName", host: "*.shop.test", service: "web" });
 * ```
 */
export function dnsName(host: string, opts: { service: string }): DnsNameDeclaration {
  return { kind: "dnsName", host, service: opts.service };
}

/**
 * Returns a copy of `def` that also provides the given declarations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dnsName, provides, type ServiceDefinition } from "k3sbox";
 *
 * const web: ServiceDefinition = { image: { type: "registry", reference: "nginx:1.27" }, ports: [80] };
 * const routed = provides(web, [dnsName("*.shop.test", { service: "web" })]);
 * assert.equal(routed.dnsNames?.length, 1);
 * assert.equal(web.dnsNames, undefined); // the original is left as it was
 * ```
 */
export function provides<H>(def: ServiceDefinition<H>, decls: DnsNameDeclaration[]): ServiceDefinition<H> {
  return { ...def, dnsNames: [...(def.dnsNames ?? []), ...decls] };
}

/** Replaces the self-service token with the service key (and the reach-hosts token with `hosts`, when given). */
export function expandServiceToken(text: string, key: string, hosts?: string[]): string {
  const out = text.split(SELF_SERVICE_TOKEN).join(key);
  return hosts ? out.split(REACH_HOSTS_TOKEN).join(hosts.join(",")) : out;
}

/** `host:port` for a URL: IPv6 addresses in brackets. */
export function hostPortOf(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** Mode a file is written with: explicit, else 0600 for private keys, else 0644. */
export function fileMode(file: ServiceFile): number {
  return file.mode ?? (PRIVATE_KEY_PEM.test(file.content) ? 0o600 : 0o644);
}

/**
 * Does `host` fall under a declared name? Exact match, or for `*.d` any name
 * ending in `.d` (like a wildcard DNS record; the TLS certificate still only
 * covers one label under `d`).
 */
export function matchesDnsName(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  const p = pattern.toLowerCase();
  if (!p.startsWith("*.")) return h === p;
  const suffix = p.slice(1); // ".example.test"
  return h.endsWith(suffix) && h.length > suffix.length;
}
