// Bridge networks: an environment's own, the shared mirror's, and joining a
// container to one with DNS aliases there.

import { keyValues, validateName } from "./args.ts";
import { docker, DockerError, dockerResult, unexplained } from "./cli.ts";

/** How long removing a network retries while a dying container still holds an endpoint on it. */
const NETWORK_BUSY_RETRY_MS = 10_000;

/** Creates a bridge network and returns its id. */
export async function createNetwork(name: string, labels: Record<string, string> = {}): Promise<string> {
  const out = await docker(["network", "create", ...keyValues("--label", "label", labels), validateName(name, "network name")]);
  return out.trim();
}

/** Creates a bridge network unless one of that name exists (two processes racing both succeed). */
export async function ensureNetwork(name: string, labels: Record<string, string> = {}): Promise<void> {
  const args = ["network", "create", ...keyValues("--label", "label", labels), validateName(name, "network name")];
  const r = await dockerResult(args);
  if (r.code !== 0 && !/already exists/.test(r.stderr)) throw new DockerError(args, r.code, r.stderr, r.timedOut);
}

/** Removes networks by name or id; ones that no longer exist are ignored. */
export async function removeNetworks(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const args = ["network", "rm", ...names.map((n) => validateName(n, "network name"))];
  // A container still being removed (a `docker rm -f` racing teardown) holds its
  // endpoint for a moment: "has active endpoints" is retried for a few seconds.
  const until = Date.now() + NETWORK_BUSY_RETRY_MS;
  while (true) {
    const r = await dockerResult(args);
    if (r.code === 0) return;
    if (!unexplained(r.stderr, /no such network|network \S+ not found|: network not found/i)) return;
    if (!/has active endpoints/i.test(r.stderr) || Date.now() >= until) throw new DockerError(args, r.code, r.stderr, r.timedOut);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** The IPAM gateway of a network (IPv4 first): the daemon host's address on that bridge; undefined when it has none. */
export async function networkGateway(name: string): Promise<string | undefined> {
  const out = await docker(["network", "inspect", "--format", "{{json .IPAM.Config}}", validateName(name, "network name")]);
  // deno-lint-ignore no-explicit-any
  const configs: any[] = JSON.parse(out.trim() || "null") ?? [];
  const gateways = configs.map((c) => String(c?.Gateway ?? "")).filter((g) => g !== "");
  return gateways.find((g) => !g.includes(":")) ?? gateways[0];
}

/** Connects a container (created or running) to another network, with DNS aliases there. */
export async function connectNetwork(network: string, container: string, aliases: readonly string[] = []): Promise<void> {
  const args = ["network", "connect", ...aliases.flatMap((a) => ["--alias", validateName(a, "network alias")])];
  await docker([...args, validateName(network, "network name"), validateName(container, "container")]);
}
