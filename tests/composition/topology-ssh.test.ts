// k3s() end to end on a daemon reached over ssh:// (sshd beside the DinD
// daemon that scripts/test.sh shares): published on the daemon host's
// loopback only, reached through one ssh forward. See
// tests/support/topology-e2e.ts for what is checked.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { assertWorkflow, kubectlBin, leftoversOf, loadTestImages, LONG, notThisRuntime, withDockerEnv } from "../support/topology-suite.ts";
import { type Dind, sharedOrOwnDind, sshMissing } from "../support/dind.ts";
import { k3sEndToEnd } from "../support/topology-e2e.ts";

const notHere = notThisRuntime("node");
if (!TESTBED_IMAGE) {
  skip("composition: k3s() on a daemon reached over ssh://", NO_IMAGE_REASON);
} else if (notHere) {
  skip("composition: k3s() on a daemon reached over ssh://", notHere);
} else {
  const noSsh = await sshMissing();
  if (noSsh) {
    skip("composition: k3s() on a daemon reached over ssh://", noSsh);
  } else {
    suite("composition: k3s() on a daemon reached over ssh:// (sshd beside the DinD daemon; ports forwarded, published on its loopback only)", {
      setupTimeoutMs: 600_000,
      setup: async () => {
        const d: Dind = await sharedOrOwnDind({ ssh: true });
        // Images go in over its tcp endpoint.
        await loadTestImages(d, { ...d, dockerHost: `tcp://${d.ip}:2375`, env: {} });
        return { d };
      },
      teardown: ({ d }) => d.stop(),
    }, (t) => {
      t("boot, apply, rollout, HTTPS via Traefik, kubectl, loadImages, docker push + pull, stop: through the ssh forward at 127.0.0.1, nothing left there", async ({ d }) => {
        const savedPath = process.env.PATH;
        try {
          await withDockerEnv({ DOCKER_HOST: d.env.DOCKER_HOST }, async () => {
            process.env.PATH = d.env.PATH;
            const r = await k3sEndToEnd(TESTBED_IMAGE!, kubectlBin);
            console.error(`  ssh:// (${d.env.DOCKER_HOST}): ${JSON.stringify(r.timings)}`);
            assert.equal(r.kind, "ssh");
            assertWorkflow(r, "127.0.0.1");
            assert.deepEqual(await leftoversOf(r.envId), [], "left on the daemon behind ssh");
          });
        } finally {
          process.env.PATH = savedPath;
        }
      }, LONG);
    });
  }
}
