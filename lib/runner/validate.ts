// Validation of startEnvironment's input, before Docker is touched. Each
// error names the service, the field and the allowed form; no bad value may
// surface later as a TypeError or as a Docker/OS error.

import { isImageReference } from "../image-ref.ts";
import { isDnsName } from "../names.ts";
import { matchesDnsName, SELF_SERVICE_TOKEN, type ServiceDefinition, type ServiceFile } from "../service.ts";
import { MAX_TIMER_MS } from "../limits.ts";
import { didYouMean } from "../suggest.ts";
import { isIP } from "node:net";

/**
 * A bad input to `startEnvironment`, found before anything is created; the
 * message names the field, the allowed form and, for a misspelling, the field
 * you probably meant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EnvironmentOptionError, startEnvironment } from "k3sbox";
 *
 * try {
 *   await startEnvironment({ services: { web: { image: { type: "registry", reference: "nginx:1.27" }, ports: [0] } } });
 *   assert.fail("port 0 was taken");
 * } catch (err) {
 *   if (!(err instanceof EnvironmentOptionError)) throw err;
 *   assert.equal(err.option, "services.web.ports");
 * }
 * ```
 */
export class EnvironmentOptionError extends Error {
  /** The option at fault, e.g. `services.web.readyCheck.timeoutSecs`. */
  readonly option: string;
  constructor(where: string, allowed: string, got: unknown) {
    super(`startEnvironment: ${where} must be ${allowed}; got ${describe(got)}`);
    this.name = "EnvironmentOptionError";
    this.option = where;
  }
}

/** A value for messages: JSON, shortened; functions and undefined by their type. */
function describe(v: unknown): string {
  if (typeof v === "function") return "a function";
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v) && v.length !== Object.keys(v).length) return `a sparse array of length ${v.length} (holes at ${holes(v).slice(0, 5).join(", ")})`;
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 120 ? `${text.slice(0, 100)}… (${text.length} characters)` : text;
}

// A key becomes a DNS alias (`<key>`, `<key>.internal`) and part of a container name.
const SERVICE_KEY = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Linux refuses a single argv/env string longer than this (MAX_ARG_STRLEN, 128 KiB with its NUL). */
export const MAX_ARG_BYTES = 128 * 1024 - 1;
/** The whole `docker create` command line stays well below ARG_MAX (2 MiB with an 8 MiB stack). */
const MAX_TOTAL_BYTES = 1024 * 1024;

const isPort = (p: unknown) => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
const bytes = (s: string) => new TextEncoder().encode(s).length;
/** Indexes an array has no element at (`[, "a"]`): forEach and every skip them, so they are looked for. */
const holes = (a: unknown[]) => Array.from({ length: a.length }, (_, i) => i).filter((i) => !Object.hasOwn(a, i));

/** Refuses a sparse array: `at[i]` names the first hole. */
function dense(at: string, a: unknown[]): void {
  const [hole] = holes(a);
  if (hole !== undefined) throw new EnvironmentOptionError(`${at}[${hole}]`, "an element (the array has a hole there: a sparse array such as [, x])", undefined);
}

/** Longest timeout in seconds a timer can hold (2^31-1 ms). */
const MAX_TIMEOUT_SECS = Math.floor(MAX_TIMER_MS / 1000);
const isTimeoutSecs = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0 && v <= MAX_TIMEOUT_SECS;
const TIMEOUT_SECS_FORM = `a positive, finite number of seconds no larger than ${MAX_TIMEOUT_SECS} (what setTimeout can hold), such as 120`;

/** Refuses fields that are not `known`, naming the closest known one (a typo would otherwise be ignored). */
function knownFields(at: (f: string) => string, obj: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const k of Object.keys(obj)) {
    if (known.includes(k)) continue;
    throw new EnvironmentOptionError(at(k), `a field of ${what}${didYouMean(k, known)} (known: ${known.join(", ")})`, k);
  }
}

const SERVICE_FIELDS = [
  "image", "command", "env", "privileged", "tmpfs", "cgroupns", "ports", "files", "prepare", "readyCheck", "readyProbe",
  "dnsNames", "helpers", "setup", "peers", "dispose", "diagnostics", "exportKubeconfig", "hookTimeoutSecs",
] as const;
const READY_CHECK_FIELDS = { exec: ["type", "command", "timeoutSecs"], http: ["type", "port", "path", "scheme", "ca", "status", "timeoutSecs"] } as const;

/** A host pattern: a lowercase DNS name, optionally `*.` + name. */
function isHostPattern(h: unknown): h is string {
  if (typeof h !== "string" || h.length > 253) return false;
  const name = h.startsWith("*.") ? h.slice(2) : h;
  return isDnsName(name);
}

/** One host a pattern covers: itself, or a name under a wildcard. */
const sampleHost = (pattern: string) => (pattern.startsWith("*.") ? `x${pattern.slice(1)}` : pattern);

/** Two patterns claim a common host (`*.a.test` and `b.a.test`, or the same name twice). */
const overlaps = (a: string, b: string) => matchesDnsName(a, sampleHost(b)) || matchesDnsName(b, sampleHost(a));

export function validateFiles(key: string, files: unknown, where = "files"): asserts files is ServiceFile[] {
  const at = `services.${key}.${where}`;
  if (!Array.isArray(files)) throw new EnvironmentOptionError(at, "an array of { path, content, mode? } (or a function returning one)", files);
  dense(at, files);
  files.forEach((f, i) => {
    if (!isPlainObject(f)) throw new EnvironmentOptionError(`${at}[${i}]`, "an object { path, content, mode? }", f);
    knownFields((k) => `${at}[${i}].${k}`, f, ["path", "content", "mode"], "a file { path, content, mode? }");
    if (typeof f.path !== "string" || !/^\/[^\0]*[^/\0]$/.test(f.path) || f.path.split("/").includes("..") || f.path.split("/").includes(".")) {
      throw new EnvironmentOptionError(`${at}[${i}].path`, 'an absolute file path without "." or ".." parts and not ending in "/", such as "/etc/app.conf"', f.path);
    }
    if (typeof f.content !== "string") throw new EnvironmentOptionError(`${at}[${i}].content`, "a string", f.content);
    if (f.mode !== undefined && !(Number.isInteger(f.mode) && (f.mode as number) >= 0 && (f.mode as number) <= 0o7777)) {
      throw new EnvironmentOptionError(`${at}[${i}].mode`, "an octal file mode such as 0o644", f.mode);
    }
  });
}

function validateReadyCheck(at: (f: string) => string, rc: unknown, ports: number[]): void {
  if (!isPlainObject(rc)) throw new EnvironmentOptionError(at("readyCheck"), '{ type: "exec", command, timeoutSecs } or { type: "http", port, timeoutSecs }', rc);
  if (rc.type !== "exec" && rc.type !== "http") throw new EnvironmentOptionError(at("readyCheck.type"), '"exec" or "http"', rc.type);
  knownFields((k) => at(`readyCheck.${k}`), rc, READY_CHECK_FIELDS[rc.type], `a readyCheck of type "${rc.type}"`);
  if (!isTimeoutSecs(rc.timeoutSecs)) throw new EnvironmentOptionError(at("readyCheck.timeoutSecs"), TIMEOUT_SECS_FORM, rc.timeoutSecs);
  if (rc.type === "exec") {
    if (typeof rc.command !== "string" || !rc.command.trim() || bytes(rc.command) > MAX_ARG_BYTES || rc.command.includes("\0")) {
      throw new EnvironmentOptionError(at("readyCheck.command"), `a non-empty shell command of at most ${MAX_ARG_BYTES} bytes, without NUL bytes`, rc.command);
    }
    return;
  }
  if (!isPort(rc.port) || !ports.includes(rc.port as number)) {
    throw new EnvironmentOptionError(at("readyCheck.port"), `one of the service's published ports (${ports.join(", ") || "none"})`, rc.port);
  }
  if (rc.path !== undefined && (typeof rc.path !== "string" || !/^\/[\x21-\x7e]*$/.test(rc.path))) {
    throw new EnvironmentOptionError(at("readyCheck.path"), 'a URL path starting with "/" (no spaces)', rc.path);
  }
  if (rc.scheme !== undefined && rc.scheme !== "http" && rc.scheme !== "https") {
    throw new EnvironmentOptionError(at("readyCheck.scheme"), '"http" or "https"', rc.scheme);
  }
  if (rc.status !== undefined && !(Number.isInteger(rc.status) && (rc.status as number) >= 100 && (rc.status as number) <= 599)) {
    throw new EnvironmentOptionError(at("readyCheck.status"), "an HTTP status code (100-599)", rc.status);
  }
  if (rc.ca !== undefined && (typeof rc.ca !== "string" || !rc.ca.includes("-----BEGIN CERTIFICATE-----"))) {
    throw new EnvironmentOptionError(at("readyCheck.ca"), "a PEM CA bundle", rc.ca);
  }
}

function validateService(key: string, def: unknown, keys: string[]): void {
  const at = (field: string) => `services.${key}${field ? `.${field}` : ""}`;
  if (!SERVICE_KEY.test(key)) {
    throw new EnvironmentOptionError(`service key ${JSON.stringify(key)}`, "a DNS label: a-z, 0-9 and \"-\", starting with a letter, at most 32 characters", key);
  }
  if (!isPlainObject(def)) throw new EnvironmentOptionError(at(""), "a ServiceDefinition such as k3s()", def);
  knownFields(at, def, SERVICE_FIELDS, "a ServiceDefinition");
  if (def.hookTimeoutSecs !== undefined && !isTimeoutSecs(def.hookTimeoutSecs)) throw new EnvironmentOptionError(at("hookTimeoutSecs"), TIMEOUT_SECS_FORM, def.hookTimeoutSecs);
  const image = def.image as { type?: unknown; reference?: unknown } | undefined;
  if (!isPlainObject(image) || image.type !== "registry" || typeof image.reference !== "string" || image.reference === "") {
    throw new EnvironmentOptionError(at("image"), '{ type: "registry", reference: "<image>:<tag>" }', def.image);
  }
  if (!isImageReference(image.reference)) {
    throw new EnvironmentOptionError(at("image.reference"), 'an image reference such as "busybox:1.36" or "registry.example.com:5000/team/app@sha256:…"', image.reference);
  }
  let total = 0;
  const cmd = def.command;
  if (cmd !== undefined) {
    const argv = typeof cmd === "string" ? [cmd] : cmd;
    if (Array.isArray(argv)) dense(at("command"), argv);
    // argv[0] is the program: an empty one would only fail once the container was created.
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((c) => typeof c === "string") || !argv[0].trim()) {
      throw new EnvironmentOptionError(at("command"), "a non-empty shell string or a non-empty argv array of strings whose first element (the program) is not empty", cmd);
    }
    argv.forEach((c: string, i: number) => {
      // No process argument can hold a NUL byte: spawning `docker create` would fail with an unrelated error.
      if (c.includes("\0")) throw new EnvironmentOptionError(at(typeof cmd === "string" ? "command" : `command[${i}]`), "text without NUL bytes (no process argument can hold one)", c);
      if (bytes(c) > MAX_ARG_BYTES) {
        throw new EnvironmentOptionError(at(typeof cmd === "string" ? "command" : `command[${i}]`), `at most ${MAX_ARG_BYTES} bytes (the OS limit for one argument)`, c);
      }
      total += bytes(c);
    });
  }
  if (def.env !== undefined) {
    if (!isPlainObject(def.env)) throw new EnvironmentOptionError(at("env"), 'an object of strings such as { LOG_LEVEL: "debug" }', def.env);
    for (const [name, value] of Object.entries(def.env)) {
      if (!ENV_NAME.test(name)) throw new EnvironmentOptionError(at(`env[${JSON.stringify(name)}]`), "a variable name of letters, digits and _ (not starting with a digit)", name);
      if (typeof value !== "string" || value.includes("\0") || bytes(name) + 1 + bytes(value) > MAX_ARG_BYTES) {
        throw new EnvironmentOptionError(at(`env.${name}`), `a string without NUL bytes, NAME=value at most ${MAX_ARG_BYTES} bytes`, value);
      }
      total += bytes(name) + 1 + bytes(value);
    }
  }
  if (total > MAX_TOTAL_BYTES) throw new EnvironmentOptionError(at("command and env"), `at most ${MAX_TOTAL_BYTES} bytes together`, `${total} bytes`);
  if (def.privileged !== undefined && typeof def.privileged !== "boolean") throw new EnvironmentOptionError(at("privileged"), "true or false", def.privileged);
  if (def.tmpfs !== undefined) {
    if (!Array.isArray(def.tmpfs)) throw new EnvironmentOptionError(at("tmpfs"), 'an array of absolute paths such as ["/run", "/tmp:size=64m"]', def.tmpfs);
    dense(at("tmpfs"), def.tmpfs);
    def.tmpfs.forEach((t, i) => {
      // Docker takes "<path>[:<options>]"; a path of "/" alone, "..", or an empty option list fails only at create.
      const [path, options] = typeof t === "string" ? [t.split(":")[0], t.includes(":") ? t.slice(t.indexOf(":") + 1) : undefined] : [];
      if (
        typeof t !== "string" || !/^\/[^\0\s:,]*$/.test(path ?? "") || path === "/" || path!.split("/").includes("..") ||
        (options !== undefined && !/^[A-Za-z0-9_=.,-]+$/.test(options))
      ) throw new EnvironmentOptionError(at(`tmpfs[${i}]`), 'an absolute path other than "/" (no "..", no spaces), optionally with ":options" such as "/tmp:size=64m,mode=1777"', t);
    });
  }
  if (def.cgroupns !== undefined && def.cgroupns !== "host" && def.cgroupns !== "private") {
    throw new EnvironmentOptionError(at("cgroupns"), '"host" or "private"', def.cgroupns);
  }
  const ports = def.ports ?? [];
  if (Array.isArray(ports)) dense(at("ports"), ports);
  if (!Array.isArray(ports) || !ports.every(isPort) || new Set(ports).size !== ports.length) {
    throw new EnvironmentOptionError(at("ports"), "an array of distinct TCP ports (1-65535)", def.ports);
  }
  if (def.files !== undefined && typeof def.files !== "function") validateFiles(key, def.files);
  if (def.readyCheck !== undefined) validateReadyCheck(at, def.readyCheck, ports);
  for (const hook of ["prepare", "readyProbe", "helpers", "setup", "peers", "dispose", "diagnostics", "exportKubeconfig"]) {
    if (def[hook] !== undefined && typeof def[hook] !== "function") throw new EnvironmentOptionError(at(hook), "a function", def[hook]);
  }
  if (def.dnsNames !== undefined && !Array.isArray(def.dnsNames)) {
    throw new EnvironmentOptionError(at("dnsNames"), 'an array of dnsName("*.example.test", { service }) declarations', def.dnsNames);
  }
  if (def.dnsNames !== undefined) dense(at("dnsNames"), def.dnsNames as unknown[]);
  ((def.dnsNames ?? []) as unknown[]).forEach((d, i) => {
    if (!isPlainObject(d) || d.kind !== "dnsName") {
      throw new EnvironmentOptionError(at(`dnsNames[${i}]`), 'a declaration made by dnsName("*.example.test", { service })', d);
    }
    if (!isHostPattern(d.host)) {
      throw new EnvironmentOptionError(at(`dnsNames[${i}].host`), 'a lowercase DNS name, optionally starting with "*.", such as "*.example.test"', d.host);
    }
    if (d.service !== SELF_SERVICE_TOKEN && !keys.includes(d.service as string)) {
      throw new EnvironmentOptionError(at(`dnsNames[${i}].service`), `a service of this environment (${keys.join(", ")}) or SELF_SERVICE_TOKEN`, d.service);
    }
  });
}

/** Every host name claimed once: declared names must not overlap each other or another service's `<key>`/`<key>.internal`. */
function validateNames(services: Record<string, ServiceDefinition<unknown>>): void {
  const keys = Object.keys(services);
  const claims: { owner: string; pattern: string; where: string }[] = keys.flatMap((k) => [
    { owner: k, pattern: k, where: `the service key "${k}"` },
    { owner: k, pattern: `${k}.internal`, where: `the service key "${k}"` },
  ]);
  for (const [key, def] of Object.entries(services)) {
    (def.dnsNames ?? []).forEach((d, i) => {
      const owner = d.service === SELF_SERVICE_TOKEN ? key : d.service;
      const where = `services.${key}.dnsNames[${i}]`;
      const other = claims.find((c) => c.owner !== owner && overlaps(c.pattern, d.host));
      if (other) {
        throw new EnvironmentOptionError(
          `${where}.host`,
          `a name no other service claims (${JSON.stringify(d.host)} for service "${owner}" overlaps ${JSON.stringify(other.pattern)} of service "${other.owner}", from ${other.where})`,
          d.host,
        );
      }
      claims.push({ owner, pattern: d.host, where });
    });
  }
}

export function validateServices(services: unknown): asserts services is Record<string, ServiceDefinition<unknown>> {
  if (!isPlainObject(services) || Object.keys(services).length === 0) {
    throw new EnvironmentOptionError("services", "a non-empty object such as { k8s: k3s() }", services);
  }
  const keys = Object.keys(services);
  for (const [key, def] of Object.entries(services)) validateService(key, def, keys);
  validateNames(services as Record<string, ServiceDefinition<unknown>>);
}

/** The options besides `services`. */
export function validateEnvironmentOptions(opts: unknown): void {
  if (!isPlainObject(opts)) throw new EnvironmentOptionError("options", "an object such as { services: { k8s: k3s() } }", opts);
  knownFields((k) => k, opts, ["services", "ca", "onProgress", "detached", "reuse", "host", "hostAddress"], "startEnvironment's options");
  validateServices(opts.services);
  if (opts.ca !== undefined) {
    const ca = opts.ca as Record<string, unknown>;
    if (!isPlainObject(ca)) throw new EnvironmentOptionError("ca", "{ certPem, keyPem } (PEM text)", ca);
    for (const f of ["certPem", "keyPem"]) {
      if (typeof ca[f] !== "string" || !(ca[f] as string).includes("-----BEGIN ")) throw new EnvironmentOptionError(`ca.${f}`, "PEM text", ca[f] === undefined ? undefined : "(not PEM)");
    }
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== "function") throw new EnvironmentOptionError("onProgress", "a function", opts.onProgress);
  if (opts.detached !== undefined && typeof opts.detached !== "boolean") throw new EnvironmentOptionError("detached", "true or false", opts.detached);
  if (opts.reuse !== undefined && typeof opts.reuse !== "boolean") throw new EnvironmentOptionError("reuse", "true or false", opts.reuse);
  if (opts.hostAddress !== undefined && (typeof opts.hostAddress !== "string" || isIP(opts.hostAddress) === 0)) {
    throw new EnvironmentOptionError("hostAddress", 'an IP address of this machine that the containers reach, e.g. "10.0.0.5"', opts.hostAddress);
  }
  if (opts.host !== undefined && (typeof opts.host !== "string" || !opts.host.trim())) {
    throw new EnvironmentOptionError("host", 'an IP address or host name of the Docker daemon\'s host, e.g. "192.168.1.10" (or "dial,publish")', opts.host);
  }
}
