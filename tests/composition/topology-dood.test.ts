// k3s() end to end from a test process in a container with the host's
// Docker socket mounted (DooD, tests/support/dood.ts): the process's
// container joins the environment's network. See
// tests/support/topology-e2e.ts for what is checked.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { assertWorkflow, kubectlBin, leftoversOf, LONG, notThisRuntime, withDockerEnv } from "../support/topology-suite.ts";
import { ensureBusyboxImage } from "../support/images.ts";
import { runInSocketContainer } from "../support/dood.ts";
import { runTag } from "../support/child-processes.ts";

const notHere = notThisRuntime("deno");
if (!TESTBED_IMAGE) {
  skip("composition: k3s() from a test process in a container with the host's socket mounted (DooD)", NO_IMAGE_REASON);
} else if (notHere) {
  skip("composition: k3s() from a test process in a container with the host's socket mounted (DooD)", notHere);
} else {
  suite("composition: k3s() from a test process in a container with the host's socket mounted (DooD)", {
    setup: async () => {
      await ensureBusyboxImage();
      return {};
    },
    teardown: async () => {},
  }, (t) => {
    t("boot, apply, rollout, HTTPS via Traefik, kubectl, loadImages, docker push + pull, stop: from inside the container, nothing left", async () => {
      const script = new URL("../support/topology-e2e.ts", import.meta.url).pathname;
      const r = await runInSocketContainer(`k3sbox-test-dood-${runTag()}`, script, {}, 400_000, [kubectlBin]);
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.ok(out.ok, `${out.message}\n${r.stderr.slice(-3000)}`);
      console.error(`  DooD: ${JSON.stringify(out.timings)}`);
      assert.equal(out.kind, "container");
      assertWorkflow(out, out.host);
      assert.match(out.host, /^\d+\.\d+\.\d+\.\d+$/, "dialled at the node's address on the environment's network");
      assert.deepEqual(await leftoversOf(out.envId), []);
    }, LONG);
  });
}
