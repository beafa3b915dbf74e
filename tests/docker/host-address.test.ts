// host.k3sbox.internal from the environment's containers, per topology: the
// test process on the daemon's host (the network's gateway), in a container
// with the socket mounted (DooD: its own address on the environment's
// network), and rootful Podman through its Docker API (its gateway). A server
// in the test process bound to env.hostAddress answers a container's HTTP GET (busybox nc).

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { runInSocketContainer } from "../support/dood.ts";
import { runTag } from "../support/child-processes.ts";
import { podmanMissing, type PodmanService, startPodman } from "../support/podman.ts";
import { run } from "../../lib/exec.ts";
import { scriptArgv } from "../support/script.ts";

const CHILD = new URL("../support/host-address-child.ts", import.meta.url).pathname;

async function leftoversOf(envId: string, env?: Record<string, string>): Promise<string[]> {
  const f = ["--filter", `label=${LABEL_ENV}=${envId}`, "--format", "{{.Names}}"];
  const c = await run("docker", ["ps", "-a", ...f], { env });
  const n = await run("docker", ["network", "ls", ...f], { env });
  return [...c.stdout.split("\n"), ...n.stdout.split("\n")].filter(Boolean);
}

/** The child's JSON line. */
function outcome(r: { code: number; stdout: string; stderr: string }) {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

suite("host.k3sbox.internal from containers, per topology", {
  setupTimeoutMs: 120_000,
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("on the daemon's host: env.hostAddress is the environment network's gateway; a container's HTTP GET of host.k3sbox.internal reaches the server bound there", async () => {
    const r = await run(process.execPath, [...scriptArgv(CHILD).slice(1)], { timeoutMs: 90_000 });
    const out = outcome(r);
    assert.ok(out.ok, out.message);
    assert.equal(out.kind, "local");
    assert.equal(out.hostAddress, out.gateway);
    assert.equal(out.bound, out.hostAddress, "bound to that one address, not all interfaces");
    assert.equal(out.fetched, "hello-from-the-test-process", out.stderr);
    assert.deepEqual(await leftoversOf(out.id), []);
  }, { timeoutMs: 120_000 });

  t("in a container with the socket mounted (DooD): env.hostAddress is that container's address on the environment's network, which the containers reach", async () => {
    const out = outcome(await runInSocketContainer(`k3sbox-test-hostaddr-${runTag()}`, CHILD));
    assert.ok(out.ok, out.message);
    assert.equal(out.kind, "container");
    assert.notEqual(out.hostAddress, out.gateway, "not the daemon host's gateway: this process is not there");
    assert.equal(out.fetched, "hello-from-the-test-process", out.stderr);
    assert.deepEqual(await leftoversOf(out.id), []);
  }, { timeoutMs: 150_000 });
});

const missing = await podmanMissing();
if (missing) {
  skip("host.k3sbox.internal under Podman", missing);
} else {
  suite("host.k3sbox.internal under rootful Podman (its Docker API, the docker CLI)", {
    setupTimeoutMs: 180_000,
    setup: async () => {
      await ensureBusyboxImage();
      const podman = await startPodman({ ulimits: true });
      const load = await run("/bin/sh", ["-c", 'docker save "$1" | DOCKER_HOST="$2" docker load -q', "sh", BUSYBOX_IMAGE, podman.dockerHost], { env: { DOCKER_HOST: "" }, timeoutMs: 120_000 });
      assert.equal(load.code, 0, load.stderr);
      return { podman } as { podman: PodmanService };
    },
    teardown: async ({ podman }) => {
      await podman.stop();
    },
  }, (t) => {
    t("env.hostAddress is the Podman network's gateway; a container's HTTP GET of host.k3sbox.internal reaches the server bound there", async ({ podman }) => {
      const env = { DOCKER_HOST: podman.dockerHost };
      const out = outcome(await run(process.execPath, [...scriptArgv(CHILD).slice(1)], { env, timeoutMs: 90_000 }));
      assert.ok(out.ok, out.message);
      assert.equal(out.kind, "local");
      assert.equal(out.hostAddress, out.gateway);
      assert.equal(out.fetched, "hello-from-the-test-process", out.stderr);
      assert.deepEqual(await leftoversOf(out.id, env), []);
      assert.deepEqual(await listByLabel("container", [`${LABEL_ENV}=${out.id}`]), [], "nothing on the host's Docker either");
    }, { timeoutMs: 120_000 });
  });
}
