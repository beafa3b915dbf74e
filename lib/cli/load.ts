// `k3sbox load <image>… [--cluster <id>]`: loadImages() for a cluster this
// process did not start (`k3sbox up --detach`, a test run's, a reused one).
// The node is the environment's container that has k3s's containerd socket.

import { DockerError, execIn, listByLabel } from "../docker.ts";
import { CONTAINERD_SOCKET, type LoadedImage, loadImages } from "../k3s/load-images.ts";
import { LABEL_ENV } from "../runner/labels.ts";
import { UsageError } from "./args.ts";

interface Node {
  envId: string;
  container: string;
  name: string;
}

/** Running k3sbox containers (of one environment, or all) that are k3s nodes. */
async function findNodes(envId?: string): Promise<Node[]> {
  const containers = await listByLabel("container", [envId ? `${LABEL_ENV}=${envId}` : LABEL_ENV]);
  const nodes: Node[] = [];
  await Promise.all(containers.map(async (c) => {
    // A container that stopped (or went) meanwhile is no node; only Docker being unreachable is an error.
    const probe = await execIn(c.id, ["test", "-S", CONTAINERD_SOCKET], { timeoutMs: 10_000 }).catch((e) => {
      if (e instanceof DockerError) return undefined;
      throw e;
    });
    if (probe?.code === 0) nodes.push({ envId: c.labels[LABEL_ENV], container: c.id, name: c.name });
  }));
  return nodes.sort((a, b) => a.name.localeCompare(b.name));
}

export async function loadCommand(
  images: string[],
  cluster: string | undefined,
): Promise<{ envId: string; container: string; images: LoadedImage[]; ms: number }> {
  if (images.length === 0) throw new UsageError("k3sbox load: give at least one image, e.g. `k3sbox load app:dev`");
  if (cluster !== undefined && !/^[a-f0-9]{10}$/.test(cluster)) {
    throw new UsageError(`k3sbox load: --cluster ${JSON.stringify(cluster)} is not an environment id (10 hex digits, as printed by \`k3sbox up\`)`);
  }
  const nodes = await findNodes(cluster);
  if (nodes.length === 0) {
    throw new Error(
      cluster
        ? `k3sbox load: environment ${cluster} has no running k3s node on this Docker daemon`
        : "k3sbox load: no running k3s cluster on this Docker daemon; start one with `k3sbox up --detach`",
    );
  }
  // One cluster may have several nodes (k3s({ agents })): all of them get the images.
  const envs = [...new Set(nodes.map((n) => n.envId))];
  if (envs.length > 1) {
    throw new UsageError(
      `k3sbox load: ${envs.length} k3s clusters are running (${envs.map((e) => `${e} (${nodes.filter((n) => n.envId === e).map((n) => n.name).join(", ")})`).join("; ")}); pick one with --cluster <id>`,
    );
  }
  const t0 = performance.now();
  const [loaded] = await Promise.all(nodes.map((n) => loadImages(n.container, images)));
  return { envId: nodes[0].envId, container: nodes.map((n) => n.name).join(", "), images: loaded, ms: Math.round(performance.now() - t0) };
}
