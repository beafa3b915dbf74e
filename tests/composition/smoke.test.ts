// `k3sbox smoke --image <node image>`: the main job end to end on the node
// image (a real node; the image is the only difference from real use, and
// the container runs privileged through the runner's capability fallback).
import assert from "node:assert/strict";
import { skip, test } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { k3sbox } from "../support/cli.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";

if (!TESTBED_IMAGE) {
  skip("k3sbox smoke on the node image", NO_IMAGE_REASON);
} else {
  test("k3sbox smoke --image <node image> passes: whoami through real Traefik over verified HTTPS, timings printed, nothing left", async () => {
    const before = new Set((await listByLabel("container", [LABEL_ENV])).map((c) => c.name));
    const r = await k3sbox(["smoke", "--image", TESTBED_IMAGE!], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^smoke: PASS$/m);
    for (const phase of ["start cluster", "deploy demo app", "wait for rollout", "HTTPS GET https://hello.k3sbox.test/ via Traefik", "teardown"]) {
      assert.match(r.stdout, new RegExp(`^  ${phase.replace(/[./]/g, "\\$&")} +\\d+ ms$`, "m"), phase);
    }
    assert.match(r.stderr, /refuses --privileged|privileged/, "the privilege mode is announced on progress");
    const after = (await listByLabel("container", [LABEL_ENV])).map((c) => c.name).filter((n) => !before.has(n));
    assert.deepEqual(after, [], "smoke leaves no container behind");
  }, { timeoutMs: 250_000 });
}
