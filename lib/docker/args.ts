// Checks on every value that goes into a docker argv: names and references
// are validated before use, so a value can never be taken for a flag (`-…`)
// or smuggle a second argument, and a port, count or capability Docker
// would reject (or misread) fails here, naming the value and the rule.

/** A value for a docker argument (a name, image, port, line count, capability, …) that Docker would reject or misread. */
export class DockerArgumentError extends Error {
  constructor(readonly kind: string, readonly value: string, rule: string) {
    super(`invalid ${kind} ${JSON.stringify(value)}: ${rule}`);
    this.name = "DockerArgumentError";
  }
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const NAME_RULE = "Docker names must match [a-zA-Z0-9][a-zA-Z0-9_.-]* " +
  "(letters, digits, '_', '.', '-', starting with a letter or digit)";
const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-\/:@+]*$/;

/** Throws `DockerArgumentError` unless `name` is a valid Docker container/network/volume name (or id). */
export function validateName(name: string, kind = "name"): string {
  if (typeof name !== "string" || !NAME.test(name)) throw new DockerArgumentError(kind, String(name), NAME_RULE);
  return name;
}

/** An image reference as an argument (no spaces, not starting with `-`). */
export function validateImage(ref: string): string {
  if (typeof ref !== "string" || !IMAGE.test(ref)) {
    throw new DockerArgumentError("image reference", String(ref), "expected e.g. rancher/k3s:v1.31.4-k3s1 (no spaces, not starting with '-')");
  }
  return ref;
}

/** Any string Docker passes on (a command argument, an environment value): no NUL bytes. */
export function validateText(kind: string, value: string): string {
  if (typeof value !== "string" || value.includes("\0")) {
    throw new DockerArgumentError(kind, String(value), "must be a string without NUL bytes");
  }
  return value;
}

/** The key of a `key=value` option (label, environment variable). */
export function validateKey(kind: string, key: string): string {
  if (!key || /[=\s\0]/.test(key)) {
    throw new DockerArgumentError(kind, key, "must be non-empty and contain no '=', whitespace or NUL");
  }
  return key;
}

/** `flag k=v` pairs, e.g. `--label a=1 --label b=2`. */
export function keyValues(flag: string, kind: string, map: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(map ?? {})) out.push(flag, `${validateKey(kind, k)}=${validateText(kind + " value", v)}`);
  return out;
}

/** A named volume mounted into a container (see lib/docker/volumes.ts). */
export interface VolumeMount {
  volume: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly?: boolean;
}

/** `--mount type=volume,…` for one mount (commas would split the option, so they are refused). */
export function mountArgs(m: VolumeMount): string[] {
  validateName(m.volume, "volume name");
  if (typeof m.target !== "string" || !m.target.startsWith("/") || /[,\0\n]/.test(m.target)) {
    throw new DockerArgumentError("mount target", String(m.target), "must be an absolute path without ',', newline or NUL");
  }
  return ["--mount", `type=volume,source=${m.volume},target=${m.target}${m.readOnly ? ",readonly" : ""}`];
}
