// k3s() end to end on Podman 4.x rootful through its Docker API
// (tests/support/podman.ts), the node image loaded into its storage. See
// tests/support/topology-e2e.ts for what is checked.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { assertWorkflow, kubectlBin, leftoversOf, LONG, notThisRuntime, withDockerEnv } from "../support/topology-suite.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage, ensureImageOnce } from "../support/images.ts";
import { podmanMissing, type PodmanService, startPodman } from "../support/podman.ts";
import { k3sEndToEnd } from "../support/topology-e2e.ts";
import { run } from "../../lib/proc.ts";

const notHere = notThisRuntime("bun");
if (!TESTBED_IMAGE) {
  skip("composition: k3s() on Podman", NO_IMAGE_REASON);
} else if (notHere) {
  skip("composition: k3s() on Podman", notHere);
} else {
  const noPodman = await podmanMissing();
  if (noPodman) {
    skip("composition: k3s() on Podman", noPodman);
  } else {
    suite("composition: k3s() on Podman 4.x rootful through its Docker API", {
      setupTimeoutMs: 600_000,
      setup: async () => {
        await ensureBusyboxImage();
        const p: PodmanService = await startPodman({ ulimits: true });
        const saved = process.env.DOCKER_HOST;
        process.env.DOCKER_HOST = p.dockerHost;
        try {
          for (const image of [BUSYBOX_IMAGE, TESTBED_IMAGE!]) {
            await ensureImageOnce(image, `podman-${image.replace(/[^a-z0-9]/gi, "-")}`, async () => {
              const r = await run("/bin/sh", ["-c", 'docker save "$1" | DOCKER_HOST="$2" docker load -q', "sh", image, p.dockerHost], { env: { DOCKER_HOST: "" }, timeoutMs: 600_000 });
              if (r.code !== 0) throw new Error(`loading ${image} into Podman: ${r.stderr}`);
            });
          }
        } catch (err) {
          await p.stop();
          throw err;
        } finally {
          if (saved === undefined) delete process.env.DOCKER_HOST;
          else process.env.DOCKER_HOST = saved;
        }
        return { p };
      },
      teardown: ({ p }) => p.stop(),
    }, (t) => {
      t("boot, apply, rollout, HTTPS via Traefik, kubectl, loadImages, push + pull, stop: on Podman, a real node, nothing left", async ({ p }) => {
        const saved = process.env.DOCKER_HOST;
        process.env.DOCKER_HOST = p.dockerHost;
        try {
          const r = await k3sEndToEnd(TESTBED_IMAGE!, kubectlBin);
          console.error(`  Podman: ${JSON.stringify(r.timings)}`);
          assert.equal(r.kind, "local");
          assertWorkflow(r, "127.0.0.1");
          assert.deepEqual(await leftoversOf(r.envId), [], "left on Podman");
        } finally {
          if (saved === undefined) delete process.env.DOCKER_HOST;
          else process.env.DOCKER_HOST = saved;
        }
      }, LONG);
    });
  }
}
