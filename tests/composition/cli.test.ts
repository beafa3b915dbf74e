// `k3sbox up --detach` / `down` on the k3s-compatible test image
// (--image and --unprivileged are the only differences from real use), and
// attaching to such a cluster: a test process whose definitions are the same
// attaches to it instead of booting another and leaves it running; a second
// `up --detach` attaches too; `down` removes it.
import assert from "node:assert/strict";
import { rm, stat } from "node:fs/promises";
import { skip, suite } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { prune } from "../../lib/runner/prune.ts";
import { clusterFromFlags } from "../../lib/cli/cluster-flags.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { k3sbox, k3sboxChild, ownIngressDomain } from "../support/cli.ts";
import { runTag } from "../support/child-processes.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";

if (!TESTBED_IMAGE) {
  skip("k3sbox up/down on the test image", NO_IMAGE_REASON);
} else {
  suite("k3sbox up --detach / down (k3s-compatible test image)", { setup: () => Promise.resolve({}), teardown: () => Promise.resolve() }, (t) => {
    t("up --detach --json writes a 0600 kubeconfig kubectl can use; prune leaves it; a test process and a second `up --detach` attach to it; down removes it", async () => {
      const kubeconfig = `/tmp/k3sbox-cli-test-${process.pid}.yaml`;
      // A domain of this run's own: `up --detach` and reuse attach to a cluster of the same definition.
      const domain = `reuse-${runTag()}.test`;
      const flags = ["--image", TESTBED_IMAGE!, "--unprivileged", "--no-registry", "--ingress-domain", domain];
      const up = await k3sbox(["up", "--detach", "--json", ...flags, "--kubeconfig", kubeconfig], { timeoutMs: 180_000 });
      if (up.code !== 0) await rm(kubeconfig, { force: true });
      assert.equal(up.code, 0, up.stderr);
      const info = JSON.parse(up.stdout);
      assert.match(info.id, /^[a-f0-9]{10}$/);
      let downDone = false;
      try {
        assert.match(up.stderr, /\[\s*\d+\.\ds\] /, "progress lines go to stderr");
        // The exited `up` process's watchdog runs every second; a detached cluster must survive it.
        await new Promise((r) => setTimeout(r, 2_500));
        assert.equal((await listByLabel("container", [`${LABEL_ENV}=${info.id}`])).length, 1, "the detached cluster survives its parent");
        assert.equal(info.kubeconfig, kubeconfig);
        assert.equal((await stat(kubeconfig)).mode & 0o777, 0o600);
        const nodes = await run("kubectl", ["--kubeconfig", kubeconfig, "get", "nodes", "-o", "name"]);
        assert.equal(nodes.code, 0, nodes.stderr);
        assert.match(nodes.stdout, /^node\//);
        const pruned = await prune({ dryRun: true });
        assert.ok(!pruned.containers.some((c) => c.includes(info.id)), "a detached environment is not a leftover");
        assert.ok(pruned.skippedLive.includes(info.id));

        // A test process whose definitions are the same (the CLI's flags) attaches instead of booting another, and leaves it running.
        const cluster = clusterFromFlags({ image: TESTBED_IMAGE, unprivileged: true, "no-registry": true, "ingress-domain": [domain] });
        const t0 = performance.now();
        const env = await startEnvironment({ reuse: true, services: { k8s: cluster } });
        const attachMs = performance.now() - t0;
        try {
          assert.equal(env.id, info.id, "attached to the up cluster");
          assert.equal(env.timings.setup, undefined, "setup was not run again");
          assert.equal((await env.svc.k8s.client.core.listNode()).items.length, 1);
          console.error(`  attached in ${Math.round(attachMs)} ms: ${JSON.stringify(env.timings)}`);
        } finally {
          await env.stop();
        }
        assert.equal((await listByLabel("container", [`${LABEL_ENV}=${info.id}`])).length, 1, "still running after the test process stopped");
        const again = await k3sbox(["up", "--detach", "--json", ...flags], { timeoutMs: 180_000 });
        assert.equal(again.code, 0, again.stderr);
        assert.equal(JSON.parse(again.stdout).id, info.id, "a second `up --detach` attaches too");

        const down = await k3sbox(["down", info.id]);
        downDone = true;
        assert.equal(down.code, 0, down.stderr);
        assert.match(down.stdout, new RegExp(`removed ${info.id}: k3sbox-${info.id}-k8s, k3sbox-${info.id}`));
        await assert.rejects(stat(kubeconfig), /ENOENT/, "the --kubeconfig copy goes with the cluster");
      } finally {
        await rm(kubeconfig, { force: true });
        if (!downDone) await k3sbox(["down", info.id]);
      }
      assert.deepEqual(await listByLabel("container", [`${LABEL_ENV}=${info.id}`]), []);
    }, { timeoutMs: 300_000 });

    t("up stays until Ctrl-C, prints the KUBECONFIG line (0600 file), then removes the cluster and the file", async () => {
      const kubeconfig = `/tmp/k3sbox-cli-up-${process.pid}.yaml`;
      const child = k3sboxChild(["up", "--image", TESTBED_IMAGE!, "--unprivileged", "--no-registry", ...ownIngressDomain(), "--kubeconfig", kubeconfig]);
      try {
        const out = await child.waitFor(/press Ctrl-C/, 180_000);
        assert.match(out, new RegExp(`^export KUBECONFIG=${kubeconfig}$`, "m"));
        const id = /^cluster ([a-f0-9]{10}) is ready/m.exec(out)![1];
        assert.equal((await stat(kubeconfig)).mode & 0o777, 0o600);
        assert.equal((await listByLabel("container", [`${LABEL_ENV}=${id}`])).length, 1);
        child.signal("SIGINT");
        assert.equal(await child.exited, 130);
        assert.deepEqual(await listByLabel("container", [`${LABEL_ENV}=${id}`]), []);
        assert.deepEqual(await listByLabel("network", [`${LABEL_ENV}=${id}`]), []);
        await assert.rejects(stat(kubeconfig), /ENOENT/);
      } finally {
        child.signal("SIGKILL");
        await rm(kubeconfig, { force: true });
      }
    }, { timeoutMs: 240_000 });
  });
}
