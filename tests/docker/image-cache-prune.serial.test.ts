// The image cache is the one thing k3sbox keeps on a daemon between runs:
// `k3sbox prune` and stopped environments leave it alone; `k3sbox prune
// --cache` (and `k3sbox images prune`) remove it. Emptying the cache for real
// would take it from every other test run on this daemon, so that part runs
// on the second daemon scripts/test.sh starts (Docker 29,
// K3SBOX_CONTAINERD_STORE_HOST), with its own store. Serial, like prune.

import assert from "node:assert/strict";
import { skip, suite, test } from "../harness.ts";
import { docker, dockerResult } from "../../lib/docker.ts";
import { listVolumes, removeVolumes } from "../../lib/docker/volumes.ts";
import { LABEL_IMAGE_REF, supplyImages } from "../../lib/images/cache.ts";
import { prune } from "../../lib/runner/prune.ts";
import { ensureMirror, mirrorName } from "../../lib/images/mirror.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { k3sbox } from "../support/cli.ts";
import { runPipeline } from "../../lib/exec.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { runTag } from "../support/child-processes.ts";
import { withEnvVar } from "../support/env-var.ts";

const STORE_HOST = process.env.K3SBOX_CONTAINERD_STORE_HOST;
const run = runTag();

suite("image cache vs prune (real Docker engine; serial)", {
  setup: async () => (await ensureBusyboxImage(), {}),
  teardown: async () => {},
}, (t) => {
  t("prune and an environment's stop leave the cache and the shared mirror alone", async () => {
    const ref = `k3sbox-cache-prune/keep:${run}`;
    const upstream = `http://k3sbox-prune-upstream-${run}:5000`; // never asked: the mirror only has to exist
    await docker(["tag", BUSYBOX_IMAGE, ref]);
    try {
      const [img] = await supplyImages([ref], { helperImage: BUSYBOX_IMAGE });
      const mirror = await ensureMirror({ upstream });
      const env = await startEnvironment({ services: { idle: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 3600" } } });
      await env.stop();
      await prune();
      assert.deepEqual((await listVolumes([`${LABEL_IMAGE_REF}=${ref}`])).map((v) => v.name), [img.volume]);
      assert.equal((await dockerResult(["inspect", "--type", "container", mirror.name])).code, 0, "the mirror is still there");
    } finally {
      await dockerResult(["rmi", ref]);
      await removeVolumes((await listVolumes([`${LABEL_IMAGE_REF}=${ref}`])).map((v) => v.name));
      await dockerResult(["rm", "--force", "--volumes", mirrorName(upstream)]);
      await removeVolumes([`${mirrorName(upstream)}-data`]);
    }
  }, { timeoutMs: 60_000 });
});

if (!STORE_HOST) {
  skip("prune --cache on a daemon of its own", "K3SBOX_CONTAINERD_STORE_HOST is not set: scripts/test.sh starts a second daemon (testbed/docker29.sh) and sets it");
} else {
  test("k3sbox images lists the cache; prune keeps it; prune --cache empties it (on a second daemon)", async () => {
    // The busybox image into the second daemon (it has no registry either).
    const load = await runPipeline(
      { cmd: "docker", args: ["save", BUSYBOX_IMAGE] },
      { cmd: "docker", args: ["--host", STORE_HOST, "load", "--quiet"] },
    );
    assert.equal(load.second.code, 0, load.second.stderr);
    await withEnvVar("DOCKER_HOST", STORE_HOST, async () => {
      const ref = `k3sbox-cache-prune/gone:${run}`;
      await docker(["tag", BUSYBOX_IMAGE, ref]);
      await supplyImages([ref], { helperImage: BUSYBOX_IMAGE });
      const listed = JSON.parse((await k3sbox(["images", "--json"])).stdout);
      assert.ok(listed.images.some((i: { ref: string }) => i.ref === ref), JSON.stringify(listed));
      const kept = await k3sbox(["prune"]);
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal((await listVolumes([`${LABEL_IMAGE_REF}=${ref}`])).length, 1, "plain prune keeps the cache");
      const emptied = await k3sbox(["prune", "--cache"]);
      assert.equal(emptied.code, 0, emptied.stderr);
      assert.match(emptied.stdout, /removed [1-9]\d* cached image\(s\)/);
      assert.equal((await listVolumes([`${LABEL_IMAGE_REF}=${ref}`])).length, 0, "prune --cache removes it");
      await dockerResult(["rmi", ref]);
    });
  }, { timeoutMs: 120_000 });
}
