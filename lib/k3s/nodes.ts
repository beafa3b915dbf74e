// Node handles (`env.svc.<key>.nodes()`): each node of a k3s() cluster — the
// server and its agents — as its container, so a test can take a node away
// and bring it back (stop → the node goes NotReady after the
// controller-manager's node-monitor-grace-period; start → Ready again).

import { containerLifecycle, type LifecycleAction } from "../docker/lifecycle.ts";
import type { HelperContext } from "../service.ts";
import { agentNames } from "./agents.ts";

/**
 * One node of a k3s() cluster, as its container: what `env.svc.<key>.nodes()`
 * returns, to take a node away in a test and bring it back.
 *
 * @example
 * ```ts
 * import { k3s, startEnvironment } from "k3sbox";
 *
 * await using env = await startEnvironment({ services: { k8s: k3s({ agents: 1 }) } });
 * const [server, agent] = await env.svc.k8s.nodes();
 * await agent.stop(); // NotReady after the controller-manager's grace period
 * await agent.start(); // rejoins and is Ready again
 * console.log(server.name, server.role, agent.name); // e.g. "a1b2c3d4e5f6 server k8s-agent-1"
 * ```
 */
export interface NodeHandle {
  /** The Kubernetes node name (`<key>-agent-<i>` for agents). */
  readonly name: string;
  /** "server" for the first handle, "agent" for the others. */
  readonly role: "server" | "agent";
  /** The Docker container (id) that is this node. */
  readonly container: string;
  /** `docker stop` (SIGTERM, then SIGKILL after 10 s): k3s stops its components. */
  stop(): Promise<void>;
  /** `docker start`: the node's k3s starts again and rejoins. */
  start(): Promise<void>;
  /** `docker pause`: every process of the node freezes (the kubelet stops reporting). */
  pause(): Promise<void>;
  /** `docker unpause`: the node's processes go on. */
  unpause(): Promise<void>;
  /** `docker kill` (SIGKILL): the node dies without shutting anything down. */
  kill(): Promise<void>;
}

function handle(name: string, role: "server" | "agent", container: string): NodeHandle {
  const act = (action: LifecycleAction) => () => containerLifecycle(container, action);
  return { name, role, container, stop: act("stop"), start: act("start"), pause: act("pause"), unpause: act("unpause"), kill: act("kill") };
}

/** The server's node first (named like its hostname, as k3s names it), then the agents in order. */
export async function nodeHandles(ctx: HelperContext): Promise<NodeHandle[]> {
  const host = await ctx.exec(["hostname"], { timeoutMs: 10_000 });
  if (host.code !== 0) throw new Error(`k3s(${ctx.name}).nodes(): cannot read the server's hostname: ${host.stderr.trim()}`);
  const companions = ctx.companions ? await ctx.companions() : [];
  const agents = companions.flatMap((c) => {
    const m = /^agent-(\d+)$/.exec(c.name);
    return m ? [handle(agentNames(ctx.name, Number(m[1])).node, "agent", c.containerId)] : [];
  });
  return [handle(host.stdout.trim().toLowerCase(), "server", ctx.container), ...agents];
}
