// Docker named volumes: create, list by label, remove, and the `--mount`
// argument that puts one into a container. Volumes live on the daemon, so
// what they hold reaches a node on a remote daemon too (a bind mount of this
// process's files would not).

import { DockerArgumentError, validateName } from "./args.ts";
import { docker, DockerError, dockerResult } from "./cli.ts";

export { mountArgs, type VolumeMount } from "./args.ts";

export interface VolumeListing {
  name: string;
  labels: Record<string, string>;
}

/** Creates a local volume (an existing one of that name is returned as it is). */
export async function createVolume(name: string, labels: Record<string, string>): Promise<void> {
  const args = ["volume", "create"];
  for (const [k, v] of Object.entries(labels)) {
    if (!k || /[=\s\0,]/.test(k) || /[\0\n,]/.test(v)) throw new DockerArgumentError("volume label", `${k}=${v}`, "keys without '=', ',' or spaces; values without ',' or newlines");
    args.push("--label", `${k}=${v}`);
  }
  await docker([...args, validateName(name, "volume name")]);
}

/** Volumes carrying every `key=value` (or bare `key`) label of `filters`, with their labels. */
export async function listVolumes(filters: readonly string[]): Promise<VolumeListing[]> {
  const args = ["volume", "ls", ...filters.flatMap((f) => ["--filter", `label=${f}`]), "--format", "{{.Name}}\t{{.Labels}}"];
  const out = await docker(args);
  return out.split("\n").filter(Boolean).map((line) => {
    const [name, joined = ""] = line.split("\t");
    const labels: Record<string, string> = {};
    for (const pair of joined.split(",")) {
      const eq = pair.indexOf("=");
      if (eq > 0) labels[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return { name, labels };
  });
}

/** Removes volumes; ones already gone are ignored, one still mounted by a container is an error. */
export async function removeVolumes(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const args = ["volume", "rm", ...names.map((n) => validateName(n, "volume name"))];
  const r = await dockerResult(args);
  if (r.code === 0) return;
  const real = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l && !/no such volume|get \S+: no such volume/i.test(l));
  if (real.length > 0) throw new DockerError(args, r.code, r.stderr, r.timedOut);
}
