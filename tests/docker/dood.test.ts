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
import { runInSocketContainer } from "../support/dood.ts";
import { runTag } from "../support/child-processes.ts";

const CHILD = new URL("../support/dood-child.ts", import.meta.url).pathname;

async function leftoversOf(envId: string): Promise<string[]> {
  const f = [`${LABEL_ENV}=${envId}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
}

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
  }, { timeoutMs: 90_000 });

  t("K3SBOX_HOST=127.0.0.1 there (the old behaviour) fails within 5 s naming it, not after the ready deadline", async () => {
    const r = await runInSocketContainer(`k3sbox-test-dood-${runTag()}`, CHILD, { K3SBOX_HOST: "127.0.0.1" });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.ok, false);
    assert.equal(out.name, "UnreachableError");
    assert.match(out.message, /cannot reach .* tried 127\.0\.0\.1:\d+/);
    assert.match(out.message, /K3SBOX_HOST says to reach the containers at 127\.0\.0\.1/);
    assert.ok(out.ms < 5_000, `failed after ${out.ms} ms`);
  }, { timeoutMs: 90_000 });
});
