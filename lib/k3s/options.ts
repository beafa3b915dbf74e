// k3s() options: the reference component's options and defaults, validated
// up front so a bad value fails before anything is created.

import { hasTagOrDigest, isImageReference } from "../image-ref.ts";
import { DEFAULT_MIRRORS, DOCKER_HUB_UPSTREAM, validateUpstream } from "../images/mirror.ts";
import { describeValue, MAX_TIMER_MS } from "../limits.ts";
import { didYouMean } from "../suggest.ts";
import { isDnsName as isLowercaseDnsName } from "../names.ts";

/**
 * What `k3s()` takes. Every field is optional; each is checked when `k3s()`
 * is called, so a bad value throws a K3sOptionError before anything starts.
 *
 * @example
 * ```ts
 * import { k3s, type K3sOptions } from "k3sbox";
 *
 * const options: K3sOptions = {
 *   version: "v1.32.1-k3s1",
 *   ingressDomains: ["example.test"], // *.example.test over HTTPS through Traefik
 *   agents: 1, // a second node
 *   registry: false, // no in-cluster registry
 *   extraArgs: ["--disable=local-storage"],
 * };
 * const cluster = k3s(options); // start it with startEnvironment({ services: { k8s: cluster } })
 * ```
 */
export interface K3sOptions {
  /** Tag of the `rancher/k3s` image (or of `image`, when it names none). Default "v1.32.1-k3s1". */
  version?: string;
  /**
   * Another k3s image: a mirror or a private registry, e.g.
   * "registry.example.com:5000/mirror/rancher/k3s" (tagged with `version`)
   * or a full "…/k3s:v1.31.4-k3s1" / "…@sha256:…" reference. Default "rancher/k3s".
   */
  image?: string;
  /** Extra `k3s server` arguments, e.g. "--tls-san=my.host" or "--disable=local-storage". */
  extraArgs?: string[];
  /** Seconds to wait for the API server's /readyz. Default 120. */
  readyTimeoutSecs?: number;
  /**
   * Run an in-cluster OCI registry at `<key>.internal:5000` (plain HTTP) that
   * the cluster's containerd trusts. Default true.
   */
  registry?: boolean;
  /**
   * Domains routed into the cluster's Traefik: every `*.<domain>` host goes to
   * this cluster (env.fetch, and an HTTPS default certificate for `*.<domain>`
   * minted from the environment's CA).
   */
  ingressDomains?: string[];
  /**
   * Pull Docker Hub images through k3sbox's shared pull-through mirror: one
   * registry per Docker daemon (started on first use, kept for later runs;
   * `k3sbox prune --cache` removes it), so a workload image is fetched from
   * the internet once per host rather than once per cluster. `true` mirrors
   * Docker Hub, ghcr.io, quay.io and registry.k8s.io (one mirror each);
   * `{ upstream }` mirrors Docker Hub's images from that registry URL
   * instead. Default false.
   */
  mirror?: boolean | { upstream?: string };
  /**
   * Agent nodes joining the server: each a container of its own on the
   * environment's network (`k3s agent --server https://<key>.internal:6443`
   * with the server's join token), a node named `<key>-agent-<i>`.
   * Default 0 (a single-node cluster). See docs/multi-node.md.
   */
  agents?: number;
}

export interface ResolvedK3sOptions {
  version: string;
  /** Full image reference the container runs. */
  image: string;
  extraArgs: string[];
  readyTimeoutSecs: number;
  registry: boolean;
  ingressDomains: string[];
  /** Registry name → the upstream its shared mirror proxies (empty: no mirror). */
  mirrors: Record<string, string>;
  agents: number;
}

/** The most agents one cluster may have (each is a full node: containerd, kubelet, kube-proxy). */
export const MAX_AGENTS = 10;

/** The `rancher/k3s` tag `k3s()` runs when `version` is not given. */
export const DEFAULT_K3S_VERSION = "v1.32.1-k3s1";
export const DEFAULT_READY_TIMEOUT_SECS = 120;

/**
 * A bad option value; the message names the option and the allowed form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { k3s, K3sOptionError } from "k3sbox";
 *
 * try {
 *   k3s({ agents: 99 });
 *   assert.fail("k3s() took 99 agents");
 * } catch (err) {
 *   if (!(err instanceof K3sOptionError)) throw err;
 *   assert.equal(err.option, "agents"); // the message says the allowed form: an integer 0..10
 * }
 * ```
 */
export class K3sOptionError extends Error {
  constructor(readonly option: string, allowed: string, got: unknown) {
    const shown = Array.isArray(got) && got.length !== Object.keys(got).length ? `a sparse array of length ${got.length}` : describeValue(got);
    super(`k3s(): option "${option}" must be ${allowed}; got ${shown.length > 120 ? `${shown.slice(0, 100)}… (${shown.length} characters)` : shown}`);
    this.name = "K3sOptionError";
  }
}

// Far above any real k3s flag, far below the OS's 128 KiB per argument (the
// whole server command is one `sh -c` argument).
const MAX_EXTRA_ARG = 4096;
const KNOWN = ["version", "image", "extraArgs", "readyTimeoutSecs", "registry", "ingressDomains", "mirror", "agents"];
/** The image `k3s()` runs when `image` is not given (tagged with `version`). */
export const DEFAULT_K3S_IMAGE = "rancher/k3s";
// Docker's tag grammar.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function resolveImage(image: unknown, version: string, versionGiven: boolean): string {
  if (image === undefined) return `${DEFAULT_K3S_IMAGE}:${version}`;
  if (!isImageReference(image)) {
    throw new K3sOptionError(
      "image",
      'an image reference such as "registry.example.com:5000/mirror/rancher/k3s" or "…/rancher/k3s:v1.32.1-k3s1" ([registry[:port]/]path[:tag][@sha256:digest], lowercase path)',
      image,
    );
  }
  if (!hasTagOrDigest(image)) return `${image}:${version}`;
  if (versionGiven) {
    throw new K3sOptionError("version", `left out when "image" already names a tag or digest (image is ${JSON.stringify(image)})`, version);
  }
  return image;
}

/** Refuses holes (`[, "a.test"]`): forEach would skip them silently. */
function denseK3s(option: string, a: unknown[]): void {
  for (let i = 0; i < a.length; i++) if (!Object.hasOwn(a, i)) throw new K3sOptionError(`${option}[${i}]`, "an element (the array has a hole there: a sparse array such as [, x])", undefined);
}

const MAX_TIMEOUT_SECS = Math.floor(MAX_TIMER_MS / 1000);

function isDnsName(s: string): boolean {
  // An all-digit last label is an IP address (1.2.3.4), not a domain: no certificate or route could use it.
  return isLowercaseDnsName(s) && !/^[0-9]+$/.test(s.split(".").at(-1)!);
}

export function resolveK3sOptions(opts: K3sOptions = {}): ResolvedK3sOptions {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new K3sOptionError("options", "an object such as { ingressDomains: [\"example.test\"] }", opts);
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN.includes(key)) throw new K3sOptionError(key, `one of the known options${didYouMean(key, KNOWN)} (${KNOWN.join(", ")})`, key);
  }
  const { version = DEFAULT_K3S_VERSION, extraArgs = [], readyTimeoutSecs = DEFAULT_READY_TIMEOUT_SECS } = opts;

  if (typeof version !== "string" || !TAG.test(version)) {
    throw new K3sOptionError("version", 'a Docker image tag such as "v1.32.1-k3s1" (letters, digits, "_", ".", "-"; at most 128 characters)', version);
  }
  if (!Array.isArray(extraArgs)) throw new K3sOptionError("extraArgs", 'an array of strings such as ["--tls-san=my.host"]', extraArgs);
  denseK3s("extraArgs", extraArgs);
  extraArgs.forEach((arg, i) => {
    if (typeof arg !== "string" || arg.length === 0 || arg.length > MAX_EXTRA_ARG || arg.includes("\0")) {
      throw new K3sOptionError(`extraArgs[${i}]`, `a non-empty string of at most ${MAX_EXTRA_ARG} characters, without NUL, such as "--disable=local-storage"`, arg);
    }
  });
  if (typeof readyTimeoutSecs !== "number" || !Number.isFinite(readyTimeoutSecs) || readyTimeoutSecs <= 0 || readyTimeoutSecs > MAX_TIMEOUT_SECS) {
    throw new K3sOptionError("readyTimeoutSecs", `a positive, finite number of seconds no larger than ${MAX_TIMEOUT_SECS} (what setTimeout can hold), such as 120`, readyTimeoutSecs);
  }
  if (opts.registry !== undefined && typeof opts.registry !== "boolean") {
    throw new K3sOptionError("registry", "true or false", opts.registry);
  }
  const ingressDomains = opts.ingressDomains ?? [];
  if (!Array.isArray(ingressDomains)) throw new K3sOptionError("ingressDomains", 'an array of DNS names such as ["example.test"]', ingressDomains);
  denseK3s("ingressDomains", ingressDomains);
  ingressDomains.forEach((d, i) => {
    if (typeof d !== "string" || !isDnsName(d)) {
      throw new K3sOptionError(
        `ingressDomains[${i}]`,
        'a lowercase DNS name such as "example.test" (labels of a-z, 0-9 and "-", a last label that is not all digits — not an IP address —, no wildcard: "*." is added for you)',
        d,
      );
    }
  });
  const agents = opts.agents === undefined ? 0 : opts.agents;
  if (typeof agents !== "number" || !Number.isInteger(agents) || agents < 0 || agents > MAX_AGENTS) {
    throw new K3sOptionError("agents", `an integer 0..${MAX_AGENTS} (the number of agent nodes beside the server)`, agents);
  }
  const image = resolveImage(opts.image, version, opts.version !== undefined);
  return {
    version,
    image,
    extraArgs: [...extraArgs],
    readyTimeoutSecs,
    registry: opts.registry !== false,
    ingressDomains: [...ingressDomains],
    ...resolveMirror(opts.mirror),
    agents,
  };
}

function resolveMirror(mirror: unknown): { mirrors: Record<string, string> } {
  if (mirror === undefined || mirror === false) return { mirrors: {} };
  if (mirror === true) return { mirrors: { ...DEFAULT_MIRRORS } };
  const allowed = `true, false, or { upstream: "${DOCKER_HUB_UPSTREAM}" } (an http(s) registry URL without credentials)`;
  if (mirror === null || typeof mirror !== "object" || Array.isArray(mirror)) throw new K3sOptionError("mirror", allowed, mirror);
  for (const key of Object.keys(mirror)) if (key !== "upstream") throw new K3sOptionError(`mirror.${key}`, `absent: the only field is "upstream"`, key);
  const upstream = (mirror as { upstream?: unknown }).upstream;
  if (upstream === undefined) return { mirrors: { ...DEFAULT_MIRRORS } };
  try {
    return { mirrors: { "docker.io": validateUpstream(upstream) } };
  } catch {
    throw new K3sOptionError("mirror.upstream", allowed, upstream);
  }
}
