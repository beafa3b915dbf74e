// k3s() end to end on a daemon reached over tcp:// — a second daemon in its
// own network namespace (DinD, tests/support/dind.ts; shared by
// scripts/test.sh), the node image loaded into it with `docker save | docker
// -H … load` — and `k3sbox up` handing out that address
// (tests/support/topology-e2e.ts: boot, apply, rollout, HTTPS through
// Traefik, kubectl via kubeconfigPath, loadImages, docker push, stop, nothing left).

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { assertWorkflow, kubectlBin, leftoversOf, loadTestImages, LONG, notThisRuntime, withDockerEnv } from "../support/topology-suite.ts";
import { type Dind, sharedOrOwnDind } from "../support/dind.ts";
import { runTag } from "../support/child-processes.ts";
import { k3sbox } from "../support/cli.ts";
import { k3sEndToEnd } from "../support/topology-e2e.ts";
import { run } from "../../lib/proc.ts";

const notHere = notThisRuntime("bun");
if (!TESTBED_IMAGE) {
  skip("composition: k3s() on a daemon reached over tcp://", NO_IMAGE_REASON);
} else if (notHere) {
  skip("composition: k3s() on a daemon reached over tcp://", notHere);
} else {
  suite("composition: k3s() on a daemon reached over tcp:// (DinD in its own network namespace)", {
    setupTimeoutMs: 600_000,
    setup: async () => {
      const d: Dind = await sharedOrOwnDind();
      await loadTestImages(d);
      return { d };
    },
    teardown: async ({ d }) => {
      await d.stop();
    },
  }, (t) => {
    t("boot, apply, rollout, HTTPS via Traefik, kubectl, loadImages, docker push + pull, stop: all at the DinD address, nothing left there", async ({ d }) => {
      const saved = process.env.DOCKER_HOST;
      process.env.DOCKER_HOST = d.dockerHost;
      try {
        const r = await k3sEndToEnd(TESTBED_IMAGE!, kubectlBin);
        console.error(`  tcp:// (${d.dockerHost}): ${JSON.stringify(r.timings)}`);
        assert.equal(r.kind, "tcp");
        assertWorkflow(r, d.ip);
        assert.deepEqual(await leftoversOf(r.envId), [], "left on the DinD daemon");
      } finally {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
      }
    }, LONG);

    t("k3sbox up --detach --json prints the DinD address and its topology; kubectl reaches it with the kubeconfig; down removes it", async ({ d }) => {
      const saved = process.env.DOCKER_HOST;
      process.env.DOCKER_HOST = d.dockerHost;
      try {
        // Unprivileged (the fake node): what is checked is the address `up` hands out.
        const up = await k3sbox(["up", "--detach", "--json", "--image", TESTBED_IMAGE!, "--unprivileged", "--no-registry", "--ingress-domain", `up-${runTag()}.test`], { timeoutMs: 240_000 });
        assert.equal(up.code, 0, up.stderr);
        const info = JSON.parse(up.stdout);
        try {
          assert.equal(info.host, d.ip);
          assert.match(info.api, new RegExp(`^https://${d.ip.replace(/\./g, "\\.")}:\\d+$`));
          assert.equal(info.topology.kind, "tcp");
          const kc = await run(kubectlBin, ["--kubeconfig", info.kubeconfig, "get", "--raw", "/readyz"], { timeoutMs: 60_000 });
          assert.equal(kc.code, 0, kc.stderr);
          assert.equal(kc.stdout.trim(), "ok");
        } finally {
          const down = await k3sbox(["down", info.id, "--force"]);
          assert.equal(down.code, 0, down.stderr);
        }
        assert.deepEqual(await leftoversOf(info.id), []);
      } finally {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
      }
    }, LONG);
  });
}
