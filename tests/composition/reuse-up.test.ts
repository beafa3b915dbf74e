// Attaching to a cluster started by `k3sbox up --detach`: a test process
// whose definitions are the same (here: the CLI's flags for the test image)
// attaches to it instead of booting another, and leaves it running; a
// second `up --detach` attaches too; `down` removes it.
import assert from "node:assert/strict";
import { skip, test } from "../harness.ts";
import { clusterFromFlags } from "../../lib/cli/cluster-flags.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { k3sbox } from "../support/cli.ts";
import { runTag } from "../support/child-processes.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";

if (!TESTBED_IMAGE) {
  skip("reuse of an `up --detach` cluster", NO_IMAGE_REASON);
} else {
  test("a test process attaches to the cluster `k3sbox up --detach` started, and leaves it running", async () => {
    // A domain of this run's own, so no other run or test file shares the definition.
    const domain = `reuse-${runTag()}.test`;
    const flags = ["--image", TESTBED_IMAGE!, "--unprivileged", "--no-registry", "--ingress-domain", domain];
    const up = await k3sbox(["up", "--detach", "--json", ...flags], { timeoutMs: 180_000 });
    assert.equal(up.code, 0, up.stderr);
    const id = JSON.parse(up.stdout).id as string;
    try {
      const cluster = clusterFromFlags({ image: TESTBED_IMAGE, unprivileged: true, "no-registry": true, "ingress-domain": [domain] });
      const t0 = performance.now();
      const env = await startEnvironment({ reuse: true, services: { k8s: cluster } });
      const attachMs = performance.now() - t0;
      try {
        assert.equal(env.id, id, "attached to the up cluster");
        assert.equal(env.timings.setup, undefined, "setup was not run again");
        const nodes = await env.svc.k8s.client.core.listNode();
        assert.equal(nodes.items.length, 1);
        console.error(`  attached in ${Math.round(attachMs)} ms: ${JSON.stringify(env.timings)}`);
      } finally {
        await env.stop();
      }
      assert.equal((await listByLabel("container", [`${LABEL_ENV}=${id}`])).length, 1, "still running after the test process stopped");
      const again = await k3sbox(["up", "--detach", "--json", ...flags], { timeoutMs: 180_000 });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).id, id, "a second `up --detach` attaches too");
    } finally {
      const down = await k3sbox(["down", id]);
      assert.equal(down.code, 0, down.stderr);
    }
    assert.deepEqual(await listByLabel("container", [`${LABEL_ENV}=${id}`]), []);
  }, { timeoutMs: 300_000 });
}
