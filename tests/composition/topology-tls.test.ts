// k3s() end to end on a DinD daemon reached over tcp:// with TLS verified
// both ways (:2376, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH; shared by
// scripts/test.sh). See tests/support/topology-e2e.ts for what is checked.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { assertWorkflow, kubectlBin, leftoversOf, loadTestImages, LONG, notThisRuntime, withDockerEnv } from "../support/topology-suite.ts";
import { type Dind, sharedOrOwnDind } from "../support/dind.ts";
import { k3sEndToEnd } from "../support/topology-e2e.ts";

const notHere = notThisRuntime("deno");
if (!TESTBED_IMAGE) {
  skip("composition: k3s() on a daemon reached over tcp:// with TLS", NO_IMAGE_REASON);
} else if (notHere) {
  skip("composition: k3s() on a daemon reached over tcp:// with TLS", notHere);
} else {
  suite("composition: k3s() on a daemon reached over tcp:// with TLS verified both ways (:2376, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)", {
    setupTimeoutMs: 600_000,
    setup: async () => {
      const d: Dind = await sharedOrOwnDind({ tls: true });
      await loadTestImages(d);
      return { d };
    },
    teardown: ({ d }) => d.stop(),
  }, (t) => {
    t("boot, apply, rollout, HTTPS via Traefik, kubectl, loadImages, docker push + pull, stop: over the TLS endpoint, nothing left", async ({ d }) => {
      await withDockerEnv(d.env, async () => {
        const r = await k3sEndToEnd(TESTBED_IMAGE!, kubectlBin);
        console.error(`  tcp:// TLS (${d.dockerHost}): ${JSON.stringify(r.timings)}`);
        assert.equal(r.kind, "tcp");
        assertWorkflow(r, d.ip);
        assert.deepEqual(await leftoversOf(r.envId), [], "left on the DinD daemon");
      });
    }, LONG);
  });
}
