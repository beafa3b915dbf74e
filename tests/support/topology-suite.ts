// What the k3s() topology suites (tests/composition/topology-*.test.ts) share:
// switching this process's Docker variables, the checks of the end-to-end
// report, and which runtime runs each topology.
//
// Each topology boots real nodes on a daemon of its own (DinD, Podman), which
// costs minutes of a 2-core machine's CPU per runtime. The library code such
// a suite exercises beyond the local topology (the topology decision, the
// runner's addresses, ssh forwarding, joining networks) is the same in every
// runtime, and the runner-level topology tests (tests/docker/{dind,dood,
// podman,ssh}.test.ts) run under all three; so each k3s() topology suite runs
// under one runtime, each runtime takes some, and the others print why they
// skip (tests/support/one-runtime.ts; K3SBOX_ALL_RUNTIMES=1 runs every suite
// under every runtime).

import assert from "node:assert/strict";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import type { Runtime } from "../../lib/runtime.ts";
import { onlyUnder } from "./one-runtime.ts";
import { TESTBED_IMAGE } from "./controlplane.ts";
import type { E2eReport } from "./topology-e2e.ts";
import { type Dind, loadIntoDind } from "./dind.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage, ensureImageOnce } from "./images.ts";

export const LONG = { timeoutMs: 420_000 };
export { kubectlBin } from "./kubectl.ts";

/** Why this runtime does not run the topology suite whose runtime is `runsUnder`, or undefined when it does. */
export function notThisRuntime(runsUnder: Runtime): string | undefined {
  return onlyUnder(runsUnder, "this k3s() topology suite (one runtime per topology; the runner-level topology tests run under all three)");
}

export async function leftoversOf(envId: string): Promise<string[]> {
  const f = [`${LABEL_ENV}=${envId}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
}

const DOCKER_VARS = ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] as const;

/** Runs `fn` with this process's Docker variables set to `env` (the others unset). */
export async function withDockerEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(DOCKER_VARS.map((k) => [k, process.env[k]]));
  for (const k of DOCKER_VARS) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const k of DOCKER_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

export function assertWorkflow(r: E2eReport, host: string): void {
  assert.equal(r.host, host);
  assert.equal(r.server, `https://${host}:${/:(\d+)$/.exec(r.server)?.[1]}`, "the kubeconfig's server is the topology's address");
  assert.match(r.kubectlNodes, /^node\//, "kubectl through kubeconfigPath lists the node (TLS verified by kubectl)");
  assert.equal(r.https.status, 200);
  assert.match(r.https.body, /Hostname: hello-/, "whoami answered through Traefik over verified HTTPS");
  assert.equal(r.loaded.length, 1);
  assert.equal(r.loadedPodPhase, "Running", "a pod runs the loaded image with imagePullPolicy: Never");
  assert.match(r.pulledImageId, /k3sbox-test\/busybox@sha256:/, "containerd pulled the pushed image from the in-cluster registry");
}

/**
 * The busybox and node images into a DinD daemon, once per daemon for all
 * processes of a run; `via` is how to reach it (for ssh://, its tcp endpoint).
 * Stops the daemon (if it is this process's own) when that fails.
 */
export async function loadTestImages(d: Dind, via: Dind = d): Promise<void> {
  try {
    await ensureBusyboxImage();
    await withDockerEnv(via.env.DOCKER_HOST ? via.env : { DOCKER_HOST: via.dockerHost }, async () => {
      await ensureImageOnce(BUSYBOX_IMAGE, `dind-busybox-${d.ip}`, () => loadIntoDind(via, BUSYBOX_IMAGE));
      await ensureImageOnce(TESTBED_IMAGE!, `dind-node-${d.ip}`, () => loadIntoDind(via, TESTBED_IMAGE!));
    });
  } catch (err) {
    await d.stop();
    throw err;
  }
}
