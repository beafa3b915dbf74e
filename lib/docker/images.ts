// Images on the daemon: presence, id, pulls, listings, and `docker save` as
// the producing end of a pipeline (into a node's containerd, or into an
// image cache volume).

import type { Argv } from "../exec.ts";
import { DockerArgumentError, validateImage } from "./args.ts";
import { docker, dockerCommand, DockerError, dockerResult, summarize } from "./cli.ts";

/** `docker pull` failed; `stderr` holds the pull's own explanation. */
export class ImagePullError extends DockerError {
  constructor(readonly ref: string, args: readonly string[], code: number, stderr: string, timedOut: boolean) {
    super(
      args,
      code,
      stderr,
      timedOut,
      `docker pull ${ref}: ${timedOut ? "timed out" : summarize(stderr, code)}`,
    );
    this.name = "ImagePullError";
  }
}

/** The daemon's image id (`sha256:…`) for `ref`, or undefined when it does not have it. */
export async function imageId(ref: string): Promise<string | undefined> {
  const args = ["image", "inspect", "--format", "{{.Id}}", validateImage(ref)];
  const r = await dockerResult(args);
  if (r.code === 0) return r.stdout.trim();
  if (/no such image/i.test(r.stderr)) return undefined;
  throw new DockerError(args, r.code, r.stderr, r.timedOut);
}

/** True when `ref` is present locally. */
export async function imageExists(ref: string): Promise<boolean> {
  return (await imageId(ref)) !== undefined;
}

/** Pulls `ref`; throws `ImagePullError` carrying Docker's explanation. */
export async function pullImage(ref: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const args = ["pull", "--quiet", validateImage(ref)];
  const r = await dockerResult(args, { timeoutMs: opts.timeoutMs ?? 600_000 });
  if (r.code !== 0 || r.timedOut) throw new ImagePullError(ref, args, r.code, r.stderr, r.timedOut);
}

/** `repository:tag` of the daemon's tagged images (of one repository when given), newest first. */
export async function listImages(repository?: string): Promise<string[]> {
  const out = await docker(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", ...(repository === undefined ? [] : [validateImage(repository)])]);
  return out.split("\n").map((l) => l.trim()).filter((l) => l && !l.includes("<none>"));
}

/** Does this docker CLI's `save` take `--platform` (Docker ≥ 28)? */
export async function saveSupportsPlatform(): Promise<boolean> {
  const r = await dockerResult(["save", "--help"]);
  return /--platform\b/.test(r.stdout + r.stderr);
}

/** `docker save refs…` (of `platform` only, when given) as the producing end of a pipeline: the tarball on its stdout. */
export function imageSaveCommand(refs: readonly string[], platform?: string): Argv {
  if (platform !== undefined && !/^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_.]+)?$/.test(platform)) {
    throw new DockerArgumentError("platform", String(platform), "expected os/arch[/variant], e.g. linux/amd64");
  }
  return dockerCommand(["save", ...(platform !== undefined ? ["--platform", platform] : []), ...refs.map(validateImage)]);
}
