// k3s({ agents }) and the runner's companion containers, without Docker:
// option checks, the agent's command line (quoted, no token on it), node
// names, the companion's container spec, and the add-ons pinned to the
// server's node.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { parseAllDocuments } from "../../deps.ts";
import { K3sOptionError, MAX_AGENTS, resolveK3sOptions } from "../../lib/k3s/options.ts";
import { AGENT_TOKEN_PATH, agentNames, k3sAgentArgs, k3sAgentScript, nodeNameBase } from "../../lib/k3s/agents.ts";
import { registryManifest, SERVER_NODE_SELECTOR, traefikManifest } from "../../lib/k3s/manifests.ts";
import { checkCompanionName, companionContainerSpec, type CompanionOwner, LABEL_COMPANION } from "../../lib/runner/companions.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { clusterFromFlags } from "../../lib/cli/cluster-flags.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { reuseKey } from "../../lib/runner/reuse.ts";

test("k3s(): agents defaults to 0 and takes an integer 0..MAX_AGENTS, else names the option", () => {
  assert.equal(resolveK3sOptions({}).agents, 0);
  assert.equal(resolveK3sOptions({ agents: 2 }).agents, 2);
  assert.equal(resolveK3sOptions({ agents: MAX_AGENTS }).agents, MAX_AGENTS);
  for (const bad of [-1, 1.5, MAX_AGENTS + 1, "2", NaN, null, Infinity]) {
    assert.throws(() => resolveK3sOptions({ agents: bad as never }), (e: Error) => e instanceof K3sOptionError && /option "agents" must be an integer 0\.\.10/.test(e.message), String(bad));
  }
  // Today's definition is unchanged without agents.
  assert.deepEqual(k3s({ agents: 0 }).command, k3s().command);
});

test("agents: readable node names from the service key; the agent joins <key>.internal:6443 with a token file", () => {
  assert.deepEqual(agentNames("k8s", 1), { companion: "agent-1", node: "k8s-agent-1" });
  assert.equal(nodeNameBase("My_Cluster"), "my-cluster");
  const args = k3sAgentArgs("k8s", 2, 6443);
  assert.deepEqual(args.slice(0, 2), ["k3s", "agent"]);
  assert.ok(args.includes("--server=https://k8s.internal:6443"));
  assert.ok(args.includes(`--token-file=${AGENT_TOKEN_PATH}`));
  assert.ok(args.includes("--node-name=k8s-agent-2"));
  assert.ok(args.includes("--node-label=k3sbox.io/role=agent"));
  assert.ok(!args.some((a) => a.startsWith("--token=")), "the token is never on the command line");
  // A hostile key cannot leave its shell word.
  const script = k3sAgentScript("x'; touch /pwned; '", 1, 6443);
  assert.match(script, /exec k3s agent /);
  assert.ok(script.includes(`'--server=https://x'\\''; touch /pwned; '\\''.internal:6443'`), script);
});

test("k3s(): Traefik and the registry stay on the server's node (its ports are the published ones)", () => {
  for (const yaml of [traefikManifest(true), registryManifest()]) {
    const dep = parseAllDocuments(yaml).map((d) => d.toJS()).find((d) => d.kind === "Deployment");
    assert.deepEqual(dep.spec.template.spec.nodeSelector, SERVER_NODE_SELECTOR);
  }
});

test("companions: named after their service, labelled with the environment, run like the service's container", () => {
  const owner: CompanionOwner = {
    envId: "abc123",
    key: "k8s",
    def: { image: { type: "registry", reference: "node:1" }, tmpfs: ["/run"], cgroupns: "host", command: "ignored", ports: [6443] },
    network: "k3sbox-abc123",
    labels: { "k3sbox.env": "abc123" },
    privilege: { mode: "full" },
    mounts: [{ volume: "v1", target: "/cache", readOnly: true }],
    files: [],
    reachHosts: ["127.0.0.1"],
    adopt: async () => {},
    creating: (p) => p,
    connect: async () => {},
  };
  const spec = companionContainerSpec(owner, { name: "agent-1", command: "exec k3s agent --node-name={{SERVICE}}-agent-1" });
  assert.equal(spec.name, "k3sbox-abc123-k8s-agent-1");
  assert.equal(spec.image, "node:1");
  assert.deepEqual(spec.aliases, ["k8s-agent-1", "k8s-agent-1.internal"]);
  assert.deepEqual(spec.labels, { "k3sbox.env": "abc123", "k3sbox.service": "k8s", [LABEL_COMPANION]: "agent-1" });
  assert.deepEqual(spec.tmpfs, ["/run"]);
  assert.equal(spec.cgroupns, "host");
  assert.deepEqual(spec.privilege, { mode: "full" });
  assert.equal(spec.publish, undefined, "a companion publishes no port");
  assert.deepEqual(spec.command, ["-c", "exec k3s agent --node-name=k8s-agent-1"]);
  assert.equal(companionContainerSpec(owner, { name: "x", image: "other:2", command: ["a", "b"] }).entrypoint, "a");
  assert.equal(checkCompanionName("k8s", "agent-1", new Set()), "agent-1");
  assert.throws(() => checkCompanionName("k8s", "agent-1", new Set(["agent-1"])), /already runs/);
  for (const bad of ["", "Agent", "-a", "a_b", "x".repeat(33), 7]) {
    assert.throws(() => checkCompanionName("k8s", bad, new Set()), /companion name must be a DNS label/, String(bad));
  }
});

test("CLI: --agents maps onto the agents option, and a bad value names the flag or the option", () => {
  assert.doesNotThrow(() => clusterFromFlags({ agents: "2" }));
  assert.throws(() => clusterFromFlags({ agents: "two" }), (e: Error) => e instanceof UsageError && /--agents must be a whole number/.test(e.message));
  assert.throws(() => clusterFromFlags({ agents: "-1" }), (e: Error) => e instanceof UsageError);
  assert.throws(() => clusterFromFlags({ agents: "11" }), (e: Error) => e instanceof K3sOptionError && /option "agents" must be an integer 0\.\.10 .*; got 11/.test(e.message));
});

test("reuse: the agent count is part of the definition's key (an environment with other agents is never attached)", () => {
  assert.equal(reuseKey({ k8s: k3s({ agents: 0 }) }), reuseKey({ k8s: k3s() }));
  assert.notEqual(reuseKey({ k8s: k3s({ agents: 2 }) }), reuseKey({ k8s: k3s() }));
  assert.notEqual(reuseKey({ k8s: k3s({ agents: 2 }) }), reuseKey({ k8s: k3s({ agents: 1 }) }));
});
