// A test process inside a container with the host's Docker socket mounted
// (tests/support/dood.ts), the topology where k3sbox used to dial
// 127.0.0.1 and time out: it is detected from the container's own mounts
// (confirmed with the daemon, not /.dockerenv), the process's container
// joins the environment's network and dials the service there, nothing is
// published beyond the daemon host's 127.0.0.1, and nothing is left.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { ensureBusyboxImage } from "../support/images.ts";
import { leftoversOf, readyLine, runInSocketContainer, siblingsOf, startInSocketContainer, until } from "../support/dood.ts";
import { ENV_CHILD, runTag } from "../support/child-processes.ts";
import { deadlineMs } from "../support/load.ts";
import { docker, dockerResult } from "../../lib/docker.ts";
import { LABEL_OWNER_CONTAINER } from "../../lib/runner/labels.ts";

const CHILD = new URL("../support/dood-child.ts", import.meta.url).pathname;

suite("a test process in a container with the host's socket mounted (DooD)", {
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("detected as such; reaches the service over the environment's network; publishes nothing wider than 127.0.0.1; nothing left", async () => {
    const r = await runInSocketContainer(`k3sbox-test-dood-${runTag()}`, CHILD);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.ok(out.ok, out.message);
    assert.equal(out.kind, "container");
    assert.equal(out.fetched, "hello-from-web");
    assert.equal(out.host, out.ip, "dialled at the container's address on the environment's network");
    for (const b of out.bindings) assert.match(b, /^8080\/tcp -> 127\.0\.0\.1:\d+$/);
    assert.deepEqual(await leftoversOf(out.id), []);
    // Its sibling watchdog goes once the container has ended.
    await until("sibling watchdog gone", 30_000, () => siblingsOf(out.session), (l) => l.length === 0);
  }, { timeoutMs: 90_000 });

  t("K3SBOX_HOST=127.0.0.1 there (the old behaviour) fails within 5 s naming it, not after the ready deadline", async () => {
    const r = await runInSocketContainer(`k3sbox-test-dood-${runTag()}`, CHILD, { K3SBOX_HOST: "127.0.0.1" });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.ok, false);
    assert.equal(out.name, "UnreachableError");
    assert.match(out.message, /cannot reach .* tried 127\.0\.0\.1:\d+/);
    assert.match(out.message, /K3SBOX_HOST says to reach the containers at 127\.0\.0\.1/);
    assert.ok(out.ms < deadlineMs(), `failed after ${out.ms} ms`);
  }, { timeoutMs: 90_000 });

  t("a test-process container killed with its environment running leaves nothing within a minute (sibling watchdog; owner container labelled)", async () => {
    const name = `k3sbox-test-dood-${runTag()}`;
    const id = await startInSocketContainer(name, ENV_CHILD);
    try {
      const logs = await readyLine(name);
      const envId = /READY (\w+)/.exec(logs)![1];
      const objects = await listByLabel("container", [`${LABEL_ENV}=${envId}`]);
      assert.equal(objects[0]?.labels[LABEL_OWNER_CONTAINER], id, "labelled with the owner container");
      const session = objects[0].labels["k3sbox.session"];
      assert.deepEqual(await siblingsOf(session), [`k3sbox-watchdog-${session}`], "the sibling watchdog runs");
      await docker(["kill", name]);
      const gone = await until("environment removed after the kill", 60_000, () => leftoversOf(envId), (l) => l.length === 0);
      console.error(`  environment gone ${gone.ms} ms after the kill`);
      await until("sibling watchdog gone", 30_000, () => siblingsOf(session), (l) => l.length === 0);
    } finally {
      await dockerResult(["rm", "--force", name]);
    }
  }, { timeoutMs: 150_000 });

  t("k3sbox doctor there reports the container topology: its container, and that it joins the environment's network", async () => {
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    const name = `k3sbox-test-dood-${runTag()}`;
    const r = await runInSocketContainer(name, cli, {}, 60_000, ["doctor", "--json", "--image", "k3sbox-test-busybox:1"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout);
    assert.equal(j.topology.kind, "container");
    assert.equal(j.topology.mode, "network");
    assert.match(j.topology.reason, new RegExp(`runs in container ${name} `));
    assert.match(j.topology.address, /joins it/);
  }, { timeoutMs: 90_000 });
});
