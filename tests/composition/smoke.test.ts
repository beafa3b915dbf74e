// `k3sbox smoke --image <node image>`: the main job end to end on the node
// image (a real node; the image is the only difference from real use, and
// the container runs privileged through the runner's capability fallback).
import assert from "node:assert/strict";
import { skip, test } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_PID } from "../../lib/runner/labels.ts";
import { k3sboxChild } from "../support/cli.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";

if (!TESTBED_IMAGE) {
  skip("k3sbox smoke on the node image", NO_IMAGE_REASON);
} else {
  test("k3sbox smoke --image <node image> passes: whoami through real Traefik over verified HTTPS, timings printed, nothing left", async () => {
    const child = k3sboxChild(["smoke", "--image", TESTBED_IMAGE!]);
    const killer = setTimeout(() => child.signal("SIGKILL"), 240_000);
    const code = await child.exited.finally(() => clearTimeout(killer));
    const r = { code, ...child.output() };
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^smoke: PASS$/m);
    for (const phase of ["start cluster", "deploy demo app", "wait for rollout", "HTTPS GET https://hello.k3sbox.test/ via Traefik", "teardown"]) {
      assert.match(r.stdout, new RegExp(`^  ${phase.replace(/[./]/g, "\\$&")} +\\d+ ms$`, "m"), phase);
    }
    assert.match(r.stderr, /refuses --privileged|privileged/, "the privilege mode is announced on progress");
    // Its containers carry its pid (other test files may be running clusters meanwhile).
    assert.deepEqual(await listByLabel("container", [`${LABEL_PID}=${child.pid}`]), [], "smoke leaves no container behind");
    assert.deepEqual(await listByLabel("network", [`${LABEL_PID}=${child.pid}`]), [], "smoke leaves no network behind");
  }, { timeoutMs: 250_000 });
}
