// k3s() end to end on the node image in each topology where the test
// process does not share the daemon's loopback (tests/support/topology-e2e.ts:
// boot, apply, rollout, HTTPS through Traefik, kubectl via kubeconfigPath,
// loadImages, docker push to the in-cluster registry, stop, nothing left):
//   - tcp:// — a second daemon in its own network namespace (DinD,
//     tests/support/dind.ts; shared by scripts/test.sh), the node image
//     loaded into it with `docker save | docker -H … load`;
//   - a test process in a container with the host's socket mounted (DooD,
//     tests/support/dood.ts);
//   - ssh:// — the same DinD daemon through its sshd: published on its
//     loopback only, reached through one ssh forward;
//   - Podman 4.x rootful through its Docker API (tests/support/podman.ts),
//     the node image loaded into its storage.
// (The local topology is the rest of the composition tier.)

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { NO_IMAGE_REASON, TESTBED_BIN, TESTBED_IMAGE } from "../support/controlplane.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { type Dind, loadIntoDind, sharedOrOwnDind, sshMissing } from "../support/dind.ts";
import { runInSocketContainer } from "../support/dood.ts";
import { runTag } from "../support/child-processes.ts";
import { k3sbox } from "../support/cli.ts";
import { type E2eReport, k3sEndToEnd } from "../support/topology-e2e.ts";
import { ensureImageOnce } from "../support/images.ts";
import { podmanMissing, type PodmanService, startPodman } from "../support/podman.ts";
import { run } from "../../lib/proc.ts";

const LONG = { timeoutMs: 420_000 };
const kubectlBin = TESTBED_BIN ? `${TESTBED_BIN}/kubectl` : "kubectl";

async function leftoversOf(envId: string): Promise<string[]> {
  const f = [`${LABEL_ENV}=${envId}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
}

const DOCKER_VARS = ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] as const;

/** Runs `fn` with this process's Docker variables set to `env` (the others unset). */
async function withDockerEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(DOCKER_VARS.map((k) => [k, process.env[k]]));
  for (const k of DOCKER_VARS) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const k of DOCKER_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

function assertWorkflow(r: E2eReport, host: string): void {
  assert.equal(r.host, host);
  assert.equal(r.server, `https://${host}:${/:(\d+)$/.exec(r.server)?.[1]}`, "the kubeconfig's server is the topology's address");
  assert.match(r.kubectlNodes, /^node\//, "kubectl through kubeconfigPath lists the node (TLS verified by kubectl)");
  assert.equal(r.https.status, 200);
  assert.match(r.https.body, /Hostname: hello-/, "whoami answered through Traefik over verified HTTPS");
  assert.equal(r.loaded.length, 1);
  assert.equal(r.loadedPodPhase, "Running", "a pod runs the loaded image with imagePullPolicy: Never");
  assert.match(r.pulledImageId, /k3sbox-test\/busybox@sha256:/, "containerd pulled the pushed image from the in-cluster registry");
}

if (!TESTBED_IMAGE) {
  skip("k3s() in the tcp:// and socket-container topologies", NO_IMAGE_REASON);
} else {
  suite("composition: k3s() on a daemon reached over tcp:// (DinD in its own network namespace)", {
    setupTimeoutMs: 600_000,
    setup: async () => {
      await ensureBusyboxImage();
      const d: Dind = await sharedOrOwnDind();
      const saved = process.env.DOCKER_HOST;
      process.env.DOCKER_HOST = d.dockerHost;
      try {
        // Once per daemon for all processes of a run (bun, deno, node share it).
        await ensureImageOnce(BUSYBOX_IMAGE, `dind-busybox-${d.ip}`, () => loadIntoDind(d, BUSYBOX_IMAGE));
        await ensureImageOnce(TESTBED_IMAGE!, `dind-node-${d.ip}`, () => loadIntoDind(d, TESTBED_IMAGE!));
      } finally {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
      }
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

  suite("composition: k3s() on a daemon reached over tcp:// with TLS verified both ways (:2376, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)", {
    setupTimeoutMs: 600_000,
    setup: async () => {
      await ensureBusyboxImage();
      const d: Dind = await sharedOrOwnDind({ tls: true });
      try {
        await withDockerEnv(d.env, async () => {
          await ensureImageOnce(BUSYBOX_IMAGE, `dind-busybox-${d.ip}`, () => loadIntoDind(d, BUSYBOX_IMAGE));
          await ensureImageOnce(TESTBED_IMAGE!, `dind-node-${d.ip}`, () => loadIntoDind(d, TESTBED_IMAGE!));
        });
      } catch (err) {
        await d.stop();
        throw err;
      }
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

  const noSsh = await sshMissing();
  if (noSsh) {
    skip("composition: k3s() on a daemon reached over ssh://", noSsh);
  } else {
    suite("composition: k3s() on a daemon reached over ssh:// (sshd beside the DinD daemon; ports forwarded, published on its loopback only)", {
      setupTimeoutMs: 600_000,
      setup: async () => {
        await ensureBusyboxImage();
        const d: Dind = await sharedOrOwnDind({ ssh: true });
        // Images go in over its tcp endpoint, once per daemon for all processes of a run.
        const overTcp: Dind = { ...d, dockerHost: `tcp://${d.ip}:2375`, env: {} };
        try {
          await withDockerEnv({ DOCKER_HOST: overTcp.dockerHost }, async () => {
            await ensureImageOnce(BUSYBOX_IMAGE, `dind-busybox-${d.ip}`, () => loadIntoDind(overTcp, BUSYBOX_IMAGE));
            await ensureImageOnce(TESTBED_IMAGE!, `dind-node-${d.ip}`, () => loadIntoDind(overTcp, TESTBED_IMAGE!));
          });
        } catch (err) {
          await d.stop();
          throw err;
        }
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
