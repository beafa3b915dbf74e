// diagnostics() of a multi-node cluster: each node's container state and
// Ready condition, and the log tail of every node that is not Ready or
// whose container is not running (stopped, paused, killed, removed). Never
// runs anything inside a node (an exec into a paused container can wedge
// Docker 20.10), and never throws.

import { inspectContainer, logsTail } from "../docker.ts";
import type { KubeHelpers } from "../kube/client.ts";
import type { HelperContext } from "../service.ts";
import { agentNames } from "./agents.ts";

const TAIL_LINES = 15;

type Cond = { status: string; detail: string };

async function readyConditions(helpers: KubeHelpers): Promise<{ byName: Map<string, Cond>; server?: string; error?: string }> {
  try {
    const nodes = (await helpers.client.core.listNode()).unwrap().items;
    const byName = new Map<string, Cond>();
    for (const n of nodes) {
      const c = n.status?.conditions?.find((x) => x.type === "Ready");
      byName.set(n.metadata?.name ?? "?", { status: c?.status ?? "none", detail: c ? `${c.reason ?? ""} ${c.message ?? ""}`.trim() : "no Ready condition" });
    }
    const server = nodes.find((n) => n.metadata?.labels?.["node-role.kubernetes.io/control-plane"] === "true")?.metadata?.name;
    return { byName, server };
  } catch (err) {
    return { byName: new Map(), error: (err as Error).message.split("\n")[0] };
  }
}

/** The node section, or "" for a single-node cluster (the pod-level diagnostics cover it). */
export async function nodeDiagnostics(ctx: HelperContext, helpers: KubeHelpers): Promise<string> {
  try {
    const companions = ctx.companions ? await ctx.companions() : [];
    const agents = companions.flatMap((c) => {
      const m = /^agent-(\d+)$/.exec(c.name);
      return m ? [{ name: agentNames(ctx.name, Number(m[1])).node, container: c.containerId }] : [];
    });
    if (agents.length === 0) return "";
    const conds = await readyConditions(helpers);
    const nodes = [{ name: conds.server ?? "(server)", container: ctx.container }, ...agents];
    const lines = [`nodes of ${ctx.name}:${conds.error ? ` (the API did not answer: ${conds.error})` : ""}`];
    for (const n of nodes) {
      const state = await inspectContainer(n.container).then((i) => i.state, () => undefined);
      const cond = conds.byName.get(n.name);
      const container = !state ? "container removed" : state.running && state.status !== "paused" ? "container running" : `container ${state.status}${state.status === "exited" ? ` (exit ${state.exitCode})` : ""}`;
      const ready = cond ? `Ready=${cond.status}${cond.status === "True" ? "" : ` ${cond.detail}`}` : "not registered";
      lines.push(`  ${n.name}: ${container}; ${ready}`);
      if (state && (cond?.status !== "True" || !state.running || state.status === "paused")) {
        const tail = await logsTail(n.container, TAIL_LINES).catch((e) => `(no log: ${(e as Error).message})`);
        lines.push(...tail.trimEnd().split("\n").map((l) => `    | ${l}`));
      }
    }
    return lines.join("\n");
  } catch (err) {
    return `nodes of ${ctx.name}: cannot describe them (${(err as Error).message.split("\n")[0]})`;
  }
}
