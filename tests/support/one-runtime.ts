// Suites that run under one runtime per test run.
//
// A suite whose subject is the node, the cluster or the Docker topology
// (kubelet and containerd on the real node, agents and their pod network,
// the image cache and mirror, a second daemon) boots real nodes for minutes
// of a 2-core machine's CPU, and what it checks does not depend on the
// runtime: the runtime's own seams (spawning docker, mTLS fetch to the API
// server, WebSocket exec and port-forward, serving webhooks, signals) are
// exercised under Bun, Deno and Node by the suites that run under all three
// (smoke, k3s, cli, cli-robustness, exec-portforward, host-webhooks,
// aggregation and the whole docker tier; each boots a real node under each
// runtime). So each such suite names the one runtime that runs it, the
// runtimes share them out, and the other two print why they skip.
// K3SBOX_ALL_RUNTIMES=1 runs every suite under every runtime.

import { type Runtime, runtime } from "../../lib/runtime.ts";

/** Why this runtime skips `subject`, which runs under `runsUnder` only; undefined when this runtime runs it. */
export function onlyUnder(runsUnder: Runtime, subject: string): string | undefined {
  if (runtime === runsUnder || process.env.K3SBOX_ALL_RUNTIMES === "1") return undefined;
  return `${subject} runs under ${runsUnder} only (its subject does not depend on the runtime; the runtime's own seams run under all three in the other suites); K3SBOX_ALL_RUNTIMES=1 runs it here too`;
}
