// Agent nodes of a k3s() cluster (`agents: n`): companion containers of the
// server's service (lib/runner/companions.ts) running `k3s agent`, joined
// with the server's own join token, which k3s writes to server/token. The
// token goes into each agent as a 0600 file, never onto a command line or
// into a log.

import { containerState } from "../runner/container-fault.ts";
import { causeLine, logTailWithCause } from "../runner/host-limits.ts";
import type { KubeHelpers } from "../kube/client.ts";
import type { RunningCompanion, SetupContext } from "../service.ts";
import { sleep } from "../sleep.ts";
import { RESOLV_CONF_PATH } from "./command.ts";
import { shellQuote } from "../shell-quote.ts";
import { CACHE_MOUNT_DIR } from "../images/cache.ts";
import { linkCachedImagesScript } from "./node-images.ts";

/** Where a k3s server keeps its full join token (K10<CA hash>::server:<password>). */
export const SERVER_TOKEN_PATH = "/var/lib/rancher/k3s/server/token";
/** Where an agent container finds it. */
export const AGENT_TOKEN_PATH = "/etc/rancher/k3s/agent-token";
/** Node labels every agent carries (the kubelet may set these on itself). */
export const AGENT_LABELS = { "k3sbox.io/role": "agent" } as const;

/** A service key as a DNS label, for node names (`K8s_1` → `k8s-1`). */
export function nodeNameBase(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "k3s";
}

/** The companion name and node name of agent `i` (1-based). */
export function agentNames(key: string, i: number): { companion: string; node: string } {
  return { companion: `agent-${i}`, node: `${nodeNameBase(key)}-agent-${i}` };
}

/** `k3s agent` argv for agent `i` of the server reached as `<key>.internal:<apiPort>`. */
export function k3sAgentArgs(key: string, i: number, apiPort: number): string[] {
  return [
    "k3s",
    "agent",
    `--server=https://${key}.internal:${apiPort}`,
    `--token-file=${AGENT_TOKEN_PATH}`,
    `--node-name=${agentNames(key, i).node}`,
    `--resolv-conf=${RESOLV_CONF_PATH}`,
    ...Object.entries(AGENT_LABELS).map(([k, v]) => `--node-label=${k}=${v}`),
    `--node-label=k3sbox.io/service=${nodeNameBase(key)}`,
    "--kube-proxy-arg=proxy-mode=nftables",
  ];
}

/**
 * The agent container's command, like the server's: link the cached images
 * k3sbox mounted, write the gateway as the pods' upstream resolver, exec k3s.
 */
export function k3sAgentScript(key: string, i: number, apiPort: number): string {
  const conf = shellQuote(RESOLV_CONF_PATH);
  return [
    linkCachedImagesScript(CACHE_MOUNT_DIR),
    `GW="$(ip route 2>/dev/null | awk '/^default/{print $3; exit}')"`,
    `if [ -n "$GW" ]; then printf 'nameserver %s\\noptions ndots:0\\n' "$GW" > ${conf}; else : > ${conf}; fi`,
    `exec ${k3sAgentArgs(key, i, apiPort).map(shellQuote).join(" ")}`,
  ].join("; ");
}

/** Reads the server's join token and starts `count` agent containers. */
export async function startAgentNodes(ctx: SetupContext<KubeHelpers>, count: number, apiPort: number): Promise<RunningCompanion[]> {
  if (count === 0) return [];
  const read = await ctx.exec(["cat", SERVER_TOKEN_PATH], { timeoutMs: 30_000 });
  const token = read.stdout.trim();
  // The token itself is never part of a message.
  if (read.code !== 0 || !token.startsWith("K10")) {
    throw new Error(`k3s(${ctx.name}): option "agents": cannot read the server's join token ${SERVER_TOKEN_PATH} (exit ${read.code}: ${read.stderr.trim() || "no K10 token in it"})`);
  }
  ctx.progress(`service "${ctx.name}": starting ${count} agent node${count === 1 ? "" : "s"}`);
  return await Promise.all(Array.from({ length: count }, (_, n) => {
    const i = n + 1;
    return ctx.startCompanion({
      name: agentNames(ctx.name, i).companion,
      command: k3sAgentScript(ctx.name, i, apiPort),
      files: [{ path: AGENT_TOKEN_PATH, content: `${token}\n`, mode: 0o600 }],
    });
  }));
}

/** The first of `agents` whose container is no longer running (paused is not stopped), with its state. */
async function firstStoppedAgent(agents: RunningCompanion[]): Promise<{ agent: RunningCompanion; state: string } | undefined> {
  const states = await Promise.all(agents.map((a) => containerState(a.containerId, undefined)));
  const n = states.findIndex((s) => s !== undefined && !/ is paused /.test(s));
  return n < 0 ? undefined : { agent: agents[n], state: states[n]! };
}

/** "\n--- <container> (node <name>) log tail:" with its last lines and the host limit they show, if any. */
async function agentLogTail(agent: RunningCompanion, node: string): Promise<string> {
  const { tail, cause } = await logTailWithCause(agent.containerId, 20).catch((e) => ({ tail: `(no log: ${(e as Error).message})`, cause: undefined }));
  return `${causeLine(cause)}\n--- ${agent.containerName} (node ${node}) log tail:\n${tail}`;
}

/** How often the agents' nodes are read while waiting for them, and their containers' states. */
const POLL_MS = 200;
const CONTAINER_CHECK_MS = 1_000;

/** A node's Ready condition, or why it has none. */
type NodeState = { name: string; ready: boolean; detail: string };

async function nodeStates(helpers: KubeHelpers): Promise<NodeState[]> {
  const nodes = (await helpers.client.core.listNode()).unwrap();
  return nodes.items.map((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === "Ready");
    return { name: n.metadata?.name ?? "?", ready: ready?.status === "True", detail: ready ? `${ready.status} (${ready.reason ?? ""} ${ready.message ?? ""})`.trim() : "no Ready condition yet" };
  });
}

/**
 * Waits until every agent's node is Ready; past the deadline fails naming
 * each node's state and the log tail of each agent whose node is not Ready.
 */
export async function waitForAgentNodes(
  ctx: SetupContext<KubeHelpers>,
  agents: RunningCompanion[],
  timeoutMs: number,
  /** performance.now() when the agents were started: Ready times count from there. */
  t0 = performance.now(),
): Promise<Record<string, number>> {
  const names = agents.map((_, n) => agentNames(ctx.name, n + 1).node);
  const readyAfter: Record<string, number> = {};
  const deadline = Date.now() + timeoutMs;
  let last: NodeState[] = [];
  let lastError = "";
  let nextContainerCheck = 0;
  while (Date.now() < deadline) {
    ctx.signal.throwIfAborted();
    try {
      last = await nodeStates(ctx.helpers);
      for (const s of last) if (s.ready && names.includes(s.name) && readyAfter[s.name] === undefined) readyAfter[s.name] = Math.round(performance.now() - t0);
      if (names.every((n) => readyAfter[n] !== undefined)) return readyAfter;
    } catch (err) {
      lastError = (err as Error).message;
    }
    // An agent whose container stopped will not become Ready: say so now, not at the deadline.
    // (Asked of Docker every CONTAINER_CHECK_MS; the nodes, a cheap read, every POLL_MS.)
    if (performance.now() >= nextContainerCheck) {
      nextContainerCheck = performance.now() + CONTAINER_CHECK_MS;
      const gone = await firstStoppedAgent(agents.filter((_, n) => readyAfter[names[n]] === undefined));
      if (gone) {
        const n = agents.indexOf(gone.agent);
        throw new Error(`k3s(${ctx.name}): option "agents": agent node ${names[n]} failed before it was Ready: ${gone.state}${await agentLogTail(gone.agent, names[n])}`);
      }
    }
    await sleep(POLL_MS);
  }
  const lines = names.map((n) => {
    const s = last.find((x) => x.name === n);
    return `  ${n}: ${s ? (s.ready ? "Ready" : `not Ready: ${s.detail}`) : "not registered"}`;
  });
  const tails = await Promise.all(agents.map((a, n) => readyAfter[names[n]] !== undefined ? "" : agentLogTail(a, names[n])));
  throw new Error(
    `k3s(${ctx.name}): option "agents": not every agent node was Ready within ${Math.round(timeoutMs / 1000)}s:\n${lines.join("\n")}` +
      (lastError ? `\n(last API error: ${lastError})` : "") + tails.join(""),
  );
}
