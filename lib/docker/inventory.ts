// Inventory: what carries k3sbox's labels on the daemon (containers in any
// state, networks), which of some containers run, and removal by label,
// which every cleanup path (stop, prune, the crash watchdog, reuse) ends in.

import { DockerArgumentError, validateKey, validateName, validateText } from "./args.ts";
import { docker, DockerError, dockerResult, NOT_FOUND, unexplained } from "./cli.ts";
import { removeContainers } from "./containers.ts";
import { removeNetworks } from "./networks.ts";

export interface LabelledObject {
  id: string;
  name: string;
  labels: Record<string, string>;
  createdAt: Date;
  /** Containers only: Docker's state word (`running`, `exited`, `paused`, `created`, …). */
  state?: string;
}

/** A plain label key: safe to quote in a `docker ps` template, and where a `k=v` piece of `ps`'s label list starts. */
const PLAIN_LABEL_KEY = "[A-Za-z0-9][A-Za-z0-9._/-]*";
const TEMPLATE_SAFE_KEY = new RegExp(`^${PLAIN_LABEL_KEY}$`);
const LABEL_PIECE = new RegExp(`^(${PLAIN_LABEL_KEY})=(.*)$`, "s");

/**
 * Containers (any state) or networks carrying every one of `labelFilters`
 * (`key` or `key=value`). At least one filter is required, so a cleanup
 * path can never list — and then remove — everything.
 *
 * Containers are listed with `docker ps`, never `docker inspect`: the daemon
 * answers `ps` from its snapshot, while `inspect` waits for each container's
 * lock, and one wedged container (Docker 20.10 + runc hang for good when a
 * container is paused while an exec starts) would otherwise stall every
 * listing, prune and `down` on the daemon. `ps` joins labels as `k=v,k=v`:
 * the keys named in `labelFilters` are read exactly, the rest are split on
 * commas (k3sbox's own values never contain one; a foreign value containing
 * `,x=` would split wrongly).
 */
export async function listByLabel(kind: "container" | "network", labelFilters: readonly string[]): Promise<LabelledObject[]> {
  if (kind !== "container" && kind !== "network") throw new DockerArgumentError("object kind", kind, "must be \"container\" or \"network\"");
  if (labelFilters.length === 0) throw new DockerArgumentError("label filter list", "", "needs at least one label filter");
  const filters = labelFilters.flatMap((f) => {
    validateKey("label filter", f.split("=")[0]);
    return ["--filter", `label=${validateText("label filter", f)}`];
  });
  if (kind === "container") return await listContainersByLabel(filters, labelFilters.map((f) => f.split("=")[0]));
  const ids = (await docker(["network", "ls", "--quiet", "--no-trunc", ...filters])).split("\n").map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0) return [];
  const inspect = ["network", "inspect", ...ids];
  const r = await dockerResult(inspect);
  // Something may vanish between the listing and the inspect: keep the rest.
  if (r.code !== 0 && unexplained(r.stderr, NOT_FOUND)) throw new DockerError(inspect, r.code, r.stderr, r.timedOut);
  // deno-lint-ignore no-explicit-any
  const objects: any[] = r.stdout.trim() ? JSON.parse(r.stdout) : [];
  return objects.map((o) => ({ id: o.Id, name: String(o.Name ?? ""), labels: o.Labels ?? {}, createdAt: new Date(o.Created) }));
}

async function listContainersByLabel(filters: string[], exactKeys: string[]): Promise<LabelledObject[]> {
  const keys = [...new Set(exactKeys)].filter((k) => TEMPLATE_SAFE_KEY.test(k));
  const fields = ["{{json .ID}}", "{{json .Names}}", "{{json .CreatedAt}}", "{{json .State}}", "{{json .Labels}}", ...keys.map((k) => `{{json (.Label "${k}")}}`)];
  const out = await docker(["ps", "--all", "--no-trunc", ...filters, "--format", `[${fields.join(",")}]`]);
  return out.split("\n").filter((l) => l.trim()).map((line) => {
    const [id, names, created, state, joined, ...exact] = JSON.parse(line) as string[];
    const labels = splitJoinedLabels(joined);
    keys.forEach((k, i) => {
      if (exact[i] !== "" || k in labels) labels[k] = exact[i];
    });
    return { id, name: names.split(",")[0], labels, createdAt: parsePsTime(created), state };
  });
}

/** `a=1,b=x,y` → {a: "1", b: "x,y"}: a piece that does not start with a key and `=` continues the previous value. */
function splitJoinedLabels(joined: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let last: string | undefined;
  for (const piece of joined ? joined.split(",") : []) {
    const m = LABEL_PIECE.exec(piece);
    if (m) labels[last = m[1]] = m[2];
    else if (last !== undefined) labels[last] += `,${piece}`;
  }
  return labels;
}

/** `docker ps` time, e.g. `2026-11-24 22:14:09 +0000 UTC`. */
function parsePsTime(s: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2})/.exec(s);
  return m ? new Date(`${m[1]}T${m[2]}${m[3]}:${m[4]}`) : new Date(NaN);
}

/** Which of `ids` (container ids, or unique prefixes) name a running container: their full ids. */
export async function runningContainerIds(ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const filters = ids.flatMap((id) => ["--filter", `id=${validateName(id, "container id")}`]);
  const out = await docker(["ps", "--quiet", "--no-trunc", ...filters]);
  return new Set(out.split("\n").map((l) => l.trim()).filter(Boolean));
}

/**
 * Removes the containers, then the networks, carrying every label of
 * `filter`; with `only`, just the objects it returns true for. Returns the
 * names removed.
 */
export async function removeLabelled(
  filter: string[],
  opts: { only?: (o: LabelledObject) => boolean } = {},
): Promise<{ containers: string[]; networks: string[] }> {
  const only = opts.only ?? (() => true);
  const [containers, networks] = await Promise.all([listByLabel("container", filter), listByLabel("network", filter)]);
  const doomedContainers = containers.filter(only);
  const doomedNetworks = networks.filter(only);
  await removeContainers(doomedContainers.map((c) => c.id));
  await removeNetworks(doomedNetworks.map((n) => n.name));
  return { containers: doomedContainers.map((c) => c.name), networks: doomedNetworks.map((n) => n.name) };
}
